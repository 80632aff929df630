"""Trace one I-NSGA-II/LTR run at each DM consultation (the evidence for the stuck seeds).

    python benchmarks/results/preference/issue14-tuning/trace.py PROBLEM M SEED ['{json}']

The optional JSON holds PreferenceConfig settings, e.g. '{"nadir_quantile": 1.0,
"min_span": 0.0}' for the normaliser before issue 14. Per consultation it prints: eps* of the
population; the distance to the golden point of the model's best-scored member and its
"radius" r (sum f / 0.5 for DTLZ1, |f| otherwise: 1 on the Pareto front); the DM's own best
member; Kendall's tau between the model's scores and the DM's values on the population; the
population's objective ranges; the normaliser's nadir; and every 20th consultation the
front members with an objective above 1.5 (dominance-resistant points on DTLZ1/3).
"""

import json
import sys

import numpy as np
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting
from scipy.stats import kendalltau

import ll4al.preference.algorithm as algorithm
from ll4al.preference.decision_maker import ChebyshevDM
from ll4al.preference.experiment import PreferenceConfig, make_problem

problem_name, m, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
cfg = PreferenceConfig(problem=problem_name, n_obj=m, seeds=1, **extra)
problem = make_problem(problem_name, m)
dm = ChebyshevDM(cfg.dm_weights(), seed=seed, kappa=cfg.noise_kappa, flip=cfg.noise_flip)
golden = dm.golden_point(problem)
real_consult = algorithm.consult
count = [0]


def radius(F):
    return F.sum(1) / 0.5 if problem_name == "dtlz1" else np.linalg.norm(F, axis=1)


def traced(F, dm_, model, mu, rng, ideal=None, rule="random"):
    asked = real_consult(F, dm_, model, mu, rng, ideal, rule)
    count[0] += 1
    c = count[0]
    d = np.linalg.norm(F - golden, axis=1)
    v = dm.value(F)
    s = model.score(F)
    best_model, best_dm = int(np.argmax(s)), int(np.argmin(v))
    r = radius(F)
    if c in (1, 2, 3, 5, 10) or c % 10 == 0:
        print(
            f"c{c:3d} eps={d.min():.4f} model-best d={d[best_model]:.3f} r={r[best_model]:.3f} "
            f"dm-best d={d[best_dm]:.3f} r(min/med)={r.min():.3f}/{np.median(r):.3f} "
            f"ktau={kendalltau(s, -v).statistic:.2f} F.min={np.round(F.min(0), 3)} "
            f"F.max={np.round(F.max(0), 3)} nadir={np.round(model.normalizer.upper, 3)} "
            f"model-best={np.round(F[best_model], 3)}"
        )
    if c % 20 == 0:
        front = F[NonDominatedSorting().do(F, only_non_dominated_front=True)]
        far = front[(front > 1.5).any(1)]
        print(
            f"     front {len(front)} of {len(F)}; members above 1.5: {len(far)}",
            np.round(far, 3).tolist()[:4],
        )
    return asked


algorithm.consult = traced
result = cfg.run_ltr(problem, dm, seed)
d = np.linalg.norm(result.F - golden, axis=1)
print(
    f"final eps* {d.min():.4f}; golden {np.round(golden, 3)}; "
    f"closest {np.round(result.F[d.argmin()], 3)}"
)
