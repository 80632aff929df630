"""``ll4al prefer``: run the epsilon* experiment, or steer I-NSGA-II/LTR yourself.

Settings come from, in order of precedence: command-line flags, ``--config FILE`` (YAML with
the same names, underscores for dashes), and the paper defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from ll4al.config import ConfigError

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
    p.add_argument("--noise-kappa", type=float, help="simulated DM noise (default: none)")
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


def resolve_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Flags over config file over defaults."""
    config: dict[str, Any] = {}
    if getattr(args, "config", None):
        config = yaml.safe_load(Path(args.config).read_text()) or {}
        config = {k.replace("-", "_"): v for k, v in config.items()}
        unknown = set(config) - set(SETTINGS)
        if unknown:
            raise ConfigError(f"unknown settings in {args.config}: {sorted(unknown)}")
    settings = {}
    for key in SETTINGS:
        value = getattr(args, key, None)
        settings[key] = value if value is not None else config.get(key, DEFAULTS.get(key))
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
    out.mkdir(parents=True, exist_ok=True)
    (out / "final_population.json").write_text(
        json.dumps(
            {
                "F": res.F[order].tolist(),
                "X": res.X[order].tolist(),
                "score": scores[order].tolist(),
                "dm_queries": res.dm_queries,
            }
        )
    )
    print("\nYour five most preferred solutions (objectives):")
    for i in order[:5]:
        print("  " + "  ".join(f"{x:.4f}" for x in res.F[i]))
    print(f"All {len(order)} final solutions, best first: {out / 'final_population.json'}")
    return 0


def run_prefer(args: argparse.Namespace) -> int:
    """Entry point of ``ll4al prefer``; returns the exit status."""
    try:
        import pymoo  # noqa: F401
    except ImportError:
        print('ll4al prefer needs pymoo: pip install "ll4al[preference]"', file=sys.stderr)
        return 2
    from ll4al.preference.experiment import ExperimentConfig, run_experiment

    settings = resolve_settings(args)
    cfg = ExperimentConfig(
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
    run_experiment(cfg, out, progress=not getattr(args, "no_progress", False))
    print((out / "table.md").read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m ll4al.preference.cli [flags]``."""
    parser = argparse.ArgumentParser(prog="ll4al-prefer", description=__doc__)
    add_prefer_arguments(parser)
    try:
        return run_prefer(parser.parse_args(argv))
    except ConfigError as err:
        print(f"ll4al-prefer: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
