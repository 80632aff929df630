import pytest

pytest.importorskip("pymoo")

import numpy as np  # noqa: E402

from ll4al.preference.algorithm import choose_pairs, run_ltr_nsga2  # noqa: E402
from ll4al.preference.baselines import run_nsga2  # noqa: E402
from ll4al.preference.decision_maker import ChebyshevDM, default_weights  # noqa: E402
from ll4al.preference.experiment import distances, make_problem  # noqa: E402
from ll4al.preference.model import PreferenceModel  # noqa: E402


def test_choose_pairs_takes_distinct_non_dominated_solutions():
    F = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [2.0, 2.0], [0.5, 0.5]])
    pairs = choose_pairs(F, 6, np.random.default_rng(0))
    assert len(pairs) == 3  # three distinct non-dominated rows: only three pairs exist
    assert len({frozenset(p) for p in pairs}) == 3  # none asked twice
    for i, j in pairs:
        assert i != j and not np.array_equal(F[i], F[j])
        assert 3 not in (i, j)  # dominated


def test_ltr_beats_plain_nsga2_towards_the_golden_point():
    problem = make_problem("dtlz2", 3)
    ltr_eps, nsga_eps = [], []
    for seed in range(3):
        dm = ChebyshevDM(default_weights(3), seed=seed)
        golden = dm.golden_point(problem)
        ltr = run_ltr_nsga2(problem, dm, pop_size=40, n_gen=60, tau=10, mu=10, seed=seed)
        base = run_nsga2(problem, pop_size=40, n_gen=60, seed=seed)
        assert ltr.n_evals == base.n_evals == 40 * 60
        assert ltr.dm_queries == dm.n_queries == 10 * 5  # after generations 10, 20, .., 50
        ltr_eps.append(distances(ltr.F, golden)[0])
        nsga_eps.append(distances(base.F, golden)[0])
    assert np.mean(ltr_eps) < np.mean(nsga_eps)


def test_query_cap_and_convergence_stop_consulting():
    problem = make_problem("dtlz2", 3)
    dm = ChebyshevDM(default_weights(3))
    capped = run_ltr_nsga2(problem, dm, pop_size=20, n_gen=60, mu=4, max_queries=9, seed=0)
    assert capped.dm_queries == 8 and capped.consultations == 2
    converged = run_ltr_nsga2(
        problem,
        ChebyshevDM(default_weights(3)),
        pop_size=20,
        n_gen=60,
        mu=4,
        seed=0,
        convergence_tol=10.0,
    )
    assert converged.consultations == 2  # the second consultation always "converges"
    assert isinstance(converged.model, PreferenceModel) and converged.model.n_pairs == 8


def test_consultations_follow_every_tau_generations():
    problem = make_problem("dtlz2", 3)
    dm = ChebyshevDM(default_weights(3), seed=0)
    result = run_ltr_nsga2(problem, dm, pop_size=12, n_gen=30, tau=10, mu=4, seed=0)
    assert result.consultations == 2  # after generations 10 and 20; never after the last
    assert result.n_evals == 12 * 30
