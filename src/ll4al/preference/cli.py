"""``ll4al prefer``: run the epsilon* experiment, or steer I-NSGA-II/LTR yourself.

Settings come from, in order of precedence: command-line flags, ``--config FILE`` (YAML with
the same names, underscores for dashes), and the paper defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from ll4al.files import CorruptFileError, write_json_atomic
from ll4al.preference.errors import PreferenceError
from ll4al.preference.ranges import RANGES, range_problem

SETTINGS = (
    "problem",
    "n_obj",
    "seeds",
    "out",
    "generations",
    "pop_size",
    "tau",
    "mu",
    "max_queries",
    "noise_kappa",
    "weights",
    "algorithms",
    "loss",
    "niche_radius",
    "dm",
    "answers",
    "noise_flip",
    "pair_rule",
    "first_seed",
    "nadir_quantile",
    "min_span",
    "keep_extremes",
    "crowding_share",
)
DEFAULTS: dict[str, Any] = {
    "problem": "dtlz2",
    "n_obj": 3,
    "seeds": 11,
    "out": "runs/prefer",
    "tau": 10,
    "mu": 10,
    "loss": "logistic",
    "dm": "simulated",
}


def add_prefer_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``prefer`` subcommand on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "prefer",
        help="interactive multi-objective optimisation via learning-to-rank (I-NSGA-II/LTR)",
        description="Run I-NSGA-II/LTR against NSGA-II, R-NSGA-II (oracle) and PINSGA2 with a "
        "simulated Chebyshev decision maker, or with you as the decision maker (--dm human).",
    )
    add_prefer_arguments(p)
    return p


def add_prefer_arguments(p: argparse.ArgumentParser) -> None:
    """The ``prefer`` flags; every default is None so config and paper defaults can fill in."""
    p.add_argument("--problem", help="dtlz1-dtlz4 or zdt1-zdt4, zdt6 (default dtlz2)")
    p.add_argument("--n-obj", type=int, help="number of objectives (default 3)")
    p.add_argument("--seeds", type=int, help="number of seeds, 0..N-1 (default 11)")
    p.add_argument("--out", help="output directory (default runs/prefer)")
    p.add_argument("--config", help="YAML file with any of these settings")
    p.add_argument("--generations", type=int, help="generations (default: paper budget)")
    p.add_argument("--pop-size", type=int, help="population size (default: paper budget)")
    p.add_argument("--tau", type=int, help="generations between consultations (default 10)")
    p.add_argument("--mu", type=int, help="pairs per consultation (default 10)")
    p.add_argument("--max-queries", type=int, help="DM query cap (default: mu per consultation)")
    p.add_argument(
        "--noise-kappa",
        type=float,
        help="simulated DM confuses near-equal values: flip with prob. exp(-kappa |dv|)",
    )
    p.add_argument(
        "--noise-flip",
        type=float,
        help="simulated DM: fraction of answers flipped at random, 0-0.5 (default: none)",
    )
    p.add_argument(
        "--pair-rule",
        choices=["random", "uncertain"],
        help="which pairs to ask: random (half around the top) or the ones the RankNet is "
        "least sure of among the top quarter (default random)",
    )
    p.add_argument(
        "--keep-extremes",
        action=argparse.BooleanOptionalAction,
        help="always keep each objective's extreme member of the first front (default: no)",
    )
    p.add_argument(
        "--crowding-share",
        type=float,
        help="share of a cut front kept by NSGA-II crowding distance, 0-1 (default 0.2)",
    )
    p.add_argument("--first-seed", type=int, help="seeds run are FIRST .. FIRST+N-1 (default 0)")
    p.add_argument(
        "--nadir-quantile",
        type=float,
        help="normalisation: quantile of the front taken as nadir (default 0.9)",
    )
    p.add_argument(
        "--min-span",
        type=float,
        help="normalisation: least span of an objective, share of the largest (default 0.05)",
    )
    p.add_argument("--weights", type=float, nargs="+", help="Chebyshev DM weights (default 1/i)")
    p.add_argument(
        "--algorithms",
        nargs="+",
        choices=["ltr-nsga2", "nsga2", "r-nsga2", "pinsga2"],
        help="algorithms to run (default: all four)",
    )
    p.add_argument("--loss", choices=["logistic", "hinge"], help="RankNet loss (default logistic)")
    p.add_argument(
        "--niche-radius", type=float, help="diversity radius (default 0.02 for m <= 3, else 0.1)"
    )
    p.add_argument(
        "--dm", choices=["simulated", "human"], help="decision maker (default simulated)"
    )
    p.add_argument("--answers", help="human DM: JSON file of answers, for stop and resume")
    p.add_argument(
        "--no-progress", "--quiet", dest="no_progress", action="store_true", help="no progress bar"
    )


# Settings that must be at least this much, checked before anything is written.
MINIMUMS = {
    "n_obj": 2,
    "seeds": 1,
    "pop_size": 1,
    "generations": 1,
    "tau": 1,
    "mu": 1,
    "first_seed": 0,
}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _read_config(path: str) -> dict[str, Any]:
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as err:
        raise PreferenceError(f"--config {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        problem = " ".join(str(err).split())
        raise PreferenceError(f"--config {path} is not valid YAML: {problem}") from err
    if not isinstance(config, dict):
        raise PreferenceError(f"--config {path} must hold a mapping of settings")
    return {str(k).replace("-", "_"): v for k, v in config.items()}


def check_settings(settings: dict[str, Any]) -> None:
    """Refuse an out-of-range number, naming its flag, before anything runs or is written."""
    for key, least in MINIMUMS.items():
        value = settings.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise PreferenceError(f"{_flag(key)} must be a whole number, got {value!r}")
        if value < least:
            raise PreferenceError(f"{_flag(key)} must be at least {least}, got {value}")
    for key in RANGES:
        value = settings.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PreferenceError(f"{_flag(key)} must be a number, got {value!r}")
        problem = range_problem(key, value)
        if problem:
            raise PreferenceError(f"{_flag(key)} {problem}")
    queries = settings.get("max_queries")
    if queries is not None and (isinstance(queries, bool) or not isinstance(queries, int)):
        raise PreferenceError(f"--max-queries must be a whole number, got {queries!r}")
    if queries is not None and queries < 0:
        raise PreferenceError(f"--max-queries must not be negative, got {queries}")


def resolve_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Flags over config file over defaults; an out-of-range number is refused."""
    config: dict[str, Any] = {}
    if getattr(args, "config", None):
        config = _read_config(args.config)
        unknown = set(config) - set(SETTINGS)
        if unknown:
            raise PreferenceError(f"unknown settings in {args.config}: {sorted(unknown)}")
    settings = {}
    for key in SETTINGS:
        value = getattr(args, key, None)
        settings[key] = value if value is not None else config.get(key, DEFAULTS.get(key))
    check_settings(settings)
    return settings


def _run_human(settings: dict[str, Any], cfg: Any, out: Path) -> int:
    from ll4al.preference.decision_maker import DMStopped, HumanDM
    from ll4al.preference.experiment import make_problem

    answers = Path(settings["answers"] or out / "answers.json")
    try:
        res = cfg.run_ltr(make_problem(cfg.problem, cfg.n_obj), HumanDM(answers), seed=0)
    except DMStopped:
        print(f"\nStopped. Your answers are in {answers}; rerun the same command to resume.")
        return 0
    scores = res.model.score(res.F)
    order = scores.argsort()[::-1]
    write_json_atomic(
        out / "final_population.json",
        {
            "F": res.F[order].tolist(),
            "X": res.X[order].tolist(),
            "score": scores[order].tolist(),
            "dm_queries": res.dm_queries,
        },
    )
    print("\nYour five most preferred solutions (objectives):")
    for i in order[:5]:
        print("  " + "  ".join(f"{x:.4f}" for x in res.F[i]))
    print(f"All {len(order)} final solutions, best first: {out / 'final_population.json'}")
    return 0


def run_prefer(args: argparse.Namespace, prog: str = "ll4al") -> int:
    """Entry point of ``ll4al prefer``; returns the exit status.

    Bad input (a :class:`PreferenceError`, or a corrupt saved file) is one line on stderr,
    ``PROG: error: ...``, and exit status 2.
    """
    try:
        import pymoo  # noqa: F401
    except ImportError:
        print('ll4al prefer needs pymoo: pip install "ll4al[preference]"', file=sys.stderr)
        return 2
    try:
        return _run_prefer(args, prog)
    except (PreferenceError, CorruptFileError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2


def _run_prefer(args: argparse.Namespace, prog: str) -> int:
    from ll4al.preference.experiment import PreferenceConfig, run_preference_experiment

    settings = resolve_settings(args)
    cfg = PreferenceConfig(
        **{
            k: settings[k]
            for k in settings
            if k not in ("out", "dm", "answers") and settings[k] is not None
        }
    )
    cfg.budget()  # fail early on an unknown problem
    out = Path(settings["out"])
    if settings["dm"] == "human":
        return _run_human(settings, cfg, out)
    run_preference_experiment(
        cfg,
        out,
        progress=not getattr(args, "no_progress", False),
        warn=lambda message: print(f"{prog}: warning: {message}", file=sys.stderr),
    )
    print((out / "table.md").read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m ll4al.preference.cli [flags]``."""
    parser = argparse.ArgumentParser(prog="ll4al-prefer", description=__doc__)
    add_prefer_arguments(parser)
    return run_prefer(parser.parse_args(argv), prog="ll4al-prefer")


if __name__ == "__main__":
    sys.exit(main())
