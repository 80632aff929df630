"""The epsilon* experiment: I-NSGA-II/LTR against NSGA-II, R-NSGA-II and PINSGA2.

Every algorithm gets the same population size and number of generations (so the same number
of evaluations), the interactive ones the same DM query cap. The metric is epsilon*, the
Euclidean distance from the DM's golden point to the closest member of the final population,
plus the mean distance of the whole population (how focused it is on the ROI).
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymoo.core.problem import Problem
from pymoo.problems import get_problem
from scipy.stats import ranksums
from tqdm import tqdm

from ll4al.files import (
    CorruptFileError,
    atomic_path,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from ll4al.preference.algorithm import PAIR_RULES, LTRResult, run_ltr_nsga2
from ll4al.preference.baselines import RunResult, run_nsga2, run_pinsga2, run_rnsga2
from ll4al.preference.decision_maker import ChebyshevDM, DecisionMaker, default_weights
from ll4al.preference.errors import PreferenceError
from ll4al.preference.model import MIN_SPAN, NADIR_QUANTILE
from ll4al.preference.ranges import RANGES, range_problem
from ll4al.preference.survival import CROWDING_SHARE

ALGORITHMS = ("ltr-nsga2", "nsga2", "r-nsga2", "pinsga2")
# What the algorithm did before a setting existed, so that a config.json written then still
# reads as the settings its results were made with.
SETTINGS_BEFORE_THEY_EXISTED = {"crowding_share": 0.0}
DTLZ_K = {"dtlz1": 5, "dtlz2": 10, "dtlz3": 10, "dtlz4": 10}
# (population size, generations) per problem and number of objectives: the NSGA-III settings
# used by Li et al. for DTLZ1-4; ZDT (two objectives) gets NSGA-II's classic 100 x 250.
# m = 8 and 10: the population sizes and generations of NSGA-III (Deb & Jain 2014, 156 and
# 276 points), as Li et al.'s own values for these m were not at hand.
PAPER_BUDGETS: dict[tuple[str, int], tuple[int, int]] = {
    ("dtlz1", 3): (64, 400),
    ("dtlz1", 5): (92, 600),
    ("dtlz1", 8): (156, 750),
    ("dtlz1", 10): (276, 1000),
    ("dtlz2", 3): (64, 250),
    ("dtlz2", 5): (92, 350),
    ("dtlz2", 8): (156, 500),
    ("dtlz2", 10): (276, 750),
    ("dtlz3", 3): (64, 1000),
    ("dtlz3", 5): (92, 1000),
    ("dtlz3", 8): (156, 1000),
    ("dtlz3", 10): (276, 1500),
    ("dtlz4", 3): (64, 600),
    ("dtlz4", 5): (92, 1000),
    ("dtlz4", 8): (156, 1250),
    ("dtlz4", 10): (276, 2000),
}
ZDT_BUDGET = (100, 250)


def make_problem(name: str, n_obj: int) -> Problem:
    """A pymoo test problem; DTLZ gets the usual ``n_var = m + k - 1`` (k = 5 or 10)."""
    name = name.lower()
    if name in DTLZ_K:
        return get_problem(name, n_var=n_obj + DTLZ_K[name] - 1, n_obj=n_obj)
    if name == "zdt5":
        raise PreferenceError(
            "zdt5 has binary variables, which NSGA-II's float operators do not fit"
        )
    if name.startswith("zdt"):
        if n_obj != 2:
            raise PreferenceError(f"{name} has two objectives, got n_obj={n_obj}")
        return get_problem(name)
    raise PreferenceError(f"unknown problem {name!r}: use dtlz1-dtlz4, zdt1-zdt4 or zdt6")


def default_budget(name: str, n_obj: int) -> tuple[int, int]:
    """Paper population size and generations (for other m: the nearest listed m)."""
    name = name.lower()
    if name.startswith("zdt"):
        return ZDT_BUDGET
    listed = [m for (p, m) in PAPER_BUDGETS if p == name]
    if not listed:
        raise PreferenceError(f"no default budget for {name!r}")
    nearest = min(listed, key=lambda m: abs(m - n_obj))
    return PAPER_BUDGETS[(name, nearest)]


@dataclass
class PreferenceConfig:
    """One problem and number of objectives, all algorithms, ``seeds`` seeds
    (``first_seed .. first_seed + seeds - 1``; tune settings on seeds apart from the
    reported ones)."""

    problem: str = "dtlz2"
    n_obj: int = 3
    seeds: int = 11
    pop_size: int | None = None
    generations: int | None = None
    tau: int = 10
    mu: int = 10
    max_queries: int | None = None
    noise_kappa: float | None = None
    weights: Sequence[float] | None = None
    algorithms: Sequence[str] = field(default_factory=lambda: list(ALGORITHMS))
    loss: str = "logistic"
    niche_radius: float | None = None
    nadir_quantile: float = NADIR_QUANTILE
    min_span: float = MIN_SPAN
    noise_flip: float | None = None
    pair_rule: str = "random"
    first_seed: int = 0
    keep_extremes: bool = False
    crowding_share: float = CROWDING_SHARE

    def __post_init__(self) -> None:
        """Refuse a bad setting before any run starts, not when it is reached."""
        if self.n_obj < 2:
            raise PreferenceError(f"n_obj must be at least 2, got {self.n_obj}")
        if self.seeds < 1:
            raise PreferenceError(f"seeds must be at least 1, got {self.seeds}")
        for name in ("pop_size", "generations", "tau", "mu"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise PreferenceError(f"{name} must be at least 1, got {value}")
        if self.max_queries is not None and self.max_queries < 0:
            raise PreferenceError(f"max_queries must not be negative, got {self.max_queries}")
        if self.noise_kappa is not None and not self.noise_kappa > 0:
            raise PreferenceError(f"noise_kappa must be positive, got {self.noise_kappa}")
        for name in RANGES:
            problem = range_problem(name, getattr(self, name))
            if problem:
                raise PreferenceError(f"{name} {problem}")
        if self.pair_rule not in PAIR_RULES:
            raise PreferenceError(
                f"pair_rule must be one of {list(PAIR_RULES)}, got {self.pair_rule!r}"
            )
        if self.first_seed < 0:
            raise PreferenceError(f"first_seed must not be negative, got {self.first_seed}")
        make_problem(self.problem, self.n_obj)
        unknown = [a for a in self.algorithms if a not in ALGORITHMS]
        if unknown:
            raise PreferenceError(f"unknown algorithms {unknown}; choose from {list(ALGORITHMS)}")
        if self.weights is not None and len(self.weights) != self.n_obj:
            raise PreferenceError(f"{len(self.weights)} weights for {self.n_obj} objectives")
        if self.weights is not None and not all(w > 0 for w in self.weights):
            raise PreferenceError(f"weights must be positive, got {list(self.weights)}")
        if self.loss not in ("logistic", "hinge"):
            raise PreferenceError(f"loss must be 'logistic' or 'hinge', got {self.loss!r}")

    def budget(self) -> tuple[int, int]:
        pop, gen = default_budget(self.problem, self.n_obj)
        return (
            pop if self.pop_size is None else self.pop_size,
            gen if self.generations is None else self.generations,
        )

    def query_cap(self) -> int:
        """I-NSGA-II/LTR's queries when it consults after every ``tau`` generations."""
        if self.max_queries is not None:
            return self.max_queries
        _, n_gen = self.budget()
        return self.mu * len(range(self.tau, n_gen, self.tau))

    def dm_weights(self) -> np.ndarray:
        return default_weights(self.n_obj) if self.weights is None else np.asarray(self.weights)

    def run_ltr(self, problem: Problem, dm: DecisionMaker, seed: int) -> LTRResult:
        """I-NSGA-II/LTR on ``problem`` with this config's budget and interaction settings."""
        pop_size, n_gen = self.budget()
        return run_ltr_nsga2(
            problem,
            dm,
            pop_size,
            n_gen,
            tau=self.tau,
            mu=self.mu,
            max_queries=self.query_cap(),
            seed=seed,
            loss=self.loss,
            niche_radius=self.niche_radius,
            nadir_quantile=self.nadir_quantile,
            min_span=self.min_span,
            pair_rule=self.pair_rule,
            keep_extremes=self.keep_extremes,
            crowding_share=self.crowding_share,
        )


def distances(F: np.ndarray, golden: np.ndarray) -> tuple[float, float]:
    """(epsilon*, mean distance) of a population ``F`` to the golden point."""
    d = np.linalg.norm(np.asarray(F, dtype=float) - golden, axis=1)
    return float(d.min()), float(d.mean())


def run_single(cfg: PreferenceConfig, algorithm: str, seed: int) -> tuple[dict, np.ndarray]:
    """One algorithm on one seed; returns the results.jsonl record and the final objectives."""
    problem = make_problem(cfg.problem, cfg.n_obj)
    pop_size, n_gen = cfg.budget()
    dm = ChebyshevDM(cfg.dm_weights(), kappa=cfg.noise_kappa, seed=seed, flip=cfg.noise_flip)
    golden = dm.golden_point(problem)
    start = time.perf_counter()
    runners: dict[str, Callable[[], RunResult | LTRResult]] = {
        "ltr-nsga2": lambda: cfg.run_ltr(problem, dm, seed),
        "nsga2": lambda: run_nsga2(problem, pop_size, n_gen, seed),
        "r-nsga2": lambda: run_rnsga2(problem, golden, pop_size, n_gen, seed),
        "pinsga2": lambda: run_pinsga2(
            problem, dm, pop_size, n_gen, cfg.tau, cfg.query_cap(), seed=seed
        ),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's trust-constr chatter inside PINSGA2
        out = runners[algorithm]()  # the algorithm names were checked in __post_init__
    F, n_evals, queries = out.F, out.n_evals, out.dm_queries
    eps_star, mean_distance = distances(F, golden)
    record = {
        "algorithm": algorithm,
        "seed": seed,
        "eps_star": eps_star,
        "mean_distance": mean_distance,
        "dm_queries": queries,
        "problem": cfg.problem,
        "n_obj": cfg.n_obj,
        "pop_size": pop_size,
        "generations": n_gen,
        "n_evals": n_evals,
        "golden_point": golden.tolist(),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return record, F


def summary_table(records: Sequence[dict], reference: str = "ltr-nsga2") -> str:
    """Markdown table: mean and std of epsilon* and mean distance, Wilcoxon rank-sum p of
    epsilon* against ``reference``, and mean DM queries, per algorithm."""
    by_alg: dict[str, list[dict]] = {}
    for r in records:
        by_alg.setdefault(r["algorithm"], []).append(r)
    ref = [r["eps_star"] for r in by_alg.get(reference, [])]
    lines = [
        "| algorithm | eps* mean ± std | mean distance mean ± std | p vs "
        + reference
        + " | DM queries | runs |",
        "|---|---|---|---|---|---|",
    ]
    for alg in [a for a in ALGORITHMS if a in by_alg] + sorted(set(by_alg) - set(ALGORITHMS)):
        eps = np.array([r["eps_star"] for r in by_alg[alg]])
        mean_d = np.array([r["mean_distance"] for r in by_alg[alg]])
        queries = np.mean([r["dm_queries"] for r in by_alg[alg]])
        p = "—" if alg == reference or not ref else f"{ranksums(eps, ref).pvalue:.2e}"
        lines.append(
            f"| {alg} | {eps.mean():.4f} ± {eps.std(ddof=1) if len(eps) > 1 else 0.0:.4f} "
            f"| {mean_d.mean():.4f} ± {mean_d.std(ddof=1) if len(mean_d) > 1 else 0.0:.4f} "
            f"| {p} | {queries:.0f} | {len(eps)} |"
        )
    return "\n".join(lines) + "\n"


def plot_final_populations(
    finals: dict[str, np.ndarray], golden: np.ndarray, path: Path, title: str
) -> None:
    """One 3-D scatter per algorithm of its final population, the golden point as a star.

    All panels share their axes, so the spread of the populations compares at a glance. The
    axes end at twice the golden point's largest objective at most, so that a few stragglers
    on a far local front (DTLZ1/3) do not shrink the rest to a dot; the title counts them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    upper = np.max([F.max(axis=0) for F in finals.values()] + [golden], axis=0)
    upper = 1.05 * np.minimum(upper, 2 * golden.max())
    fig = plt.figure(figsize=(4.2 * len(finals), 4.4))
    for k, (alg, F) in enumerate(finals.items()):
        ax = fig.add_subplot(1, len(finals), k + 1, projection="3d")
        shown = F[np.all(upper >= F, axis=1)]
        ax.scatter(*shown.T, s=8, alpha=0.7, label="final population")
        ax.scatter(*golden, marker="*", s=220, c="red", label="golden point")
        ax.set_xlim(0, upper[0])
        ax.set_ylim(0, upper[1])
        ax.set_zlim(0, upper[2])
        hidden = len(F) - len(shown)
        ax.set_title(alg if hidden == 0 else f"{alg} ({hidden} off-axes)")
        ax.set_xlabel("f1")
        ax.set_ylabel("f2")
        ax.set_zlabel("f3")
        ax.view_init(elev=25, azim=45)
    fig.axes[0].legend(loc="upper left", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:  # a kill mid-save leaves the old PNG, not half a new one
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)


def read_result_lines(path: Path, warn: Callable[[str], None] | None = None) -> list[str]:
    """The complete lines of a results.jsonl, each one JSON object, without their newlines.

    A torn last line (a run killed mid-append by a version before writes were atomic) is
    skipped and reported through ``warn`` (default: :func:`warnings.warn`); it is dropped
    when the next record is written. A bad line anywhere else means the file is corrupt.
    """
    lines = path.read_text().splitlines()
    kept = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except json.JSONDecodeError as err:
            if number < len(lines):
                message = f"{path} is corrupt (line {number} is not valid JSON: {err}); "
                raise CorruptFileError(message + "it was left as it is") from err
            message = (
                f"{path}: its last line is torn (an interrupted write), skipped; "
                "that run is redone and the line dropped when the next result is written"
            )
            if warn is None:
                warnings.warn(message, stacklevel=3)
            else:
                warn(message)
            continue
        kept.append(line)
    return kept


def _check_results_are_ours(path: Path, lines: Sequence[str]) -> None:
    """Refuse a results.jsonl that ``ll4al prefer`` did not write (``ll4al run``'s, say)."""
    for line in lines:
        record = json.loads(line)
        if isinstance(record, dict) and "algorithm" in record and "seed" in record:
            continue
        if isinstance(record, dict) and "strategy" in record:
            raise PreferenceError(
                f"{path} holds results of `ll4al run`, not of `ll4al prefer`; "
                "use another --out (it was left as it is)"
            )
        raise PreferenceError(
            f"{path} holds records that `ll4al prefer` did not write; "
            "use another --out (it was left as it is)"
        )


def run_preference_experiment(
    cfg: PreferenceConfig,
    out: Path,
    progress: bool = True,
    warn: Callable[[str], None] | None = None,
) -> list[dict]:
    """Run every algorithm on every seed; write results.jsonl, table.md and (m = 3) a PNG.

    results.jsonl gains a line after every run, and ``config.json`` records the settings:
    run again with the same settings (more seeds allowed) and the runs already done are kept,
    not repeated. The first seed's final populations (for the PNG) are kept in
    ``finals-seed0.json`` (named before ``first_seed`` existed). Every file is replaced
    atomically, so a kill never leaves a torn line or a shortened file; an existing
    results.jsonl that another command wrote, or that lacks its ``config.json``, is refused
    and left as it is. ``warn`` receives a line about a
    torn last line left by an earlier version (default: :func:`warnings.warn`).
    """
    out = Path(out)
    results_path, config_path = out / "results.jsonl", out / "config.json"
    finals_path = out / "finals-seed0.json"
    settings = json.loads(json.dumps(dataclasses.asdict(cfg)))
    settings.pop("seeds")  # more seeds extend an experiment
    lines: list[str] = []
    finals: dict[str, list] = {}
    if results_path.exists():
        lines = read_result_lines(results_path, warn)
        _check_results_are_ours(results_path, lines)
        if config_path.exists():
            if {**SETTINGS_BEFORE_THEY_EXISTED, **read_json(config_path)} != settings:
                raise PreferenceError(
                    f"{out} holds results of other settings; use another --out or delete it"
                )
            finals = read_json(finals_path) if finals_path.exists() else {}
        elif lines:
            raise PreferenceError(
                f"{results_path} has no config.json beside it, so its settings are unknown; "
                "use another --out (it was left as it is)"
            )
    if not (config_path.exists() and results_path.exists()):
        write_json_atomic(config_path, settings)
    if not results_path.exists():
        write_text_atomic(results_path, "")
    records = [json.loads(line) for line in lines]
    done = {(r["algorithm"], r["seed"]) for r in records}
    seeds = range(cfg.first_seed, cfg.first_seed + cfg.seeds)
    jobs = [(s, a) for s in seeds for a in cfg.algorithms if (a, s) not in done]
    for seed, alg in tqdm(jobs, desc=f"{cfg.problem} m={cfg.n_obj}", disable=not progress):
        record, F = run_single(cfg, alg, seed)
        if seed == cfg.first_seed:
            finals[alg] = F.tolist()
            write_json_atomic(finals_path, finals)
        records.append(record)
        lines.append(json.dumps(record))
        write_text_atomic(results_path, "".join(line + "\n" for line in lines))
    pop_size, n_gen = cfg.budget()
    header = (
        f"# {cfg.problem.upper()}, m = {cfg.n_obj}: epsilon* to the golden point\n\n"
        f"Population {pop_size}, {n_gen} generations ({pop_size * n_gen} evaluations) for every "
        f"algorithm; tau = {cfg.tau}, mu = {cfg.mu}, DM query cap {cfg.query_cap()}; "
        f"noise kappa = {cfg.noise_kappa}, answers flipped = {cfg.noise_flip}; "
        f"pairs: {cfg.pair_rule}; nadir quantile {cfg.nadir_quantile}, min span "
        f"{cfg.min_span}; extremes kept: {cfg.keep_extremes}; crowding share "
        f"{cfg.crowding_share}; "
        f"seeds {seeds.start}-{seeds.stop - 1}. p: Wilcoxon rank-sum test of "
        "epsilon* against ltr-nsga2.\n\n"
    )
    write_text_atomic(out / "table.md", header + summary_table(records))
    if cfg.n_obj == 3 and records and finals:
        plot_final_populations(
            {alg: np.asarray(F) for alg, F in finals.items()},
            np.asarray(records[0]["golden_point"]),
            out / "final_populations.png",
            f"{cfg.problem.upper()} m=3, seed {cfg.first_seed}, {n_gen} generations",
        )
    return records
