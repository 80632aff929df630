"""The ``ll4al`` command line: ``demo``, ``run CONFIG``, ``report RUN_DIR``, ``configs``,
``pretrain CONFIG``, ``prefer``, and the labeling project's (``ll4al.project.cli``): one
handler per subcommand, importing what it needs, so the light commands never load torch."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from ll4al.config import ConfigError, add_overrides_argument, named_configs
from ll4al.files import CorruptFileError
from ll4al.preference.cli import add_prefer_parser, run_prefer
from ll4al.project.cli import add_project_parsers
from ll4al.project.formats import LabelFileError
from ll4al.project.project import ProjectError
from ll4al.project.store import StoreError

# Errors that describe bad input; anything else is a bug and keeps its traceback.
USER_ERRORS = (
    ConfigError,
    CorruptFileError,
    FileNotFoundError,
    LabelFileError,
    ProjectError,
    StoreError,
    PermissionError,  # a read-only --out, say: the message names the file
    NotADirectoryError,
    FileExistsError,
    IsADirectoryError,
)
#: The same, from modules that load numpy or torch: only a command that imported one can
#: raise its error, so the light commands (status, import, export, label) never load them.
LOADED_USER_ERRORS = {
    "ll4al.al.pool": "PoolError",
    "ll4al.al.simulation": "CycleError",
    "ll4al.experiments.report": "ReportError",
    "ll4al.tasks.base": "MetricError",
    "ll4al.experiments.pretrain": "PretrainError",
}


def user_errors() -> tuple[type[Exception], ...]:
    """The bad-input errors this process can raise by now (``USER_ERRORS`` and those of
    ``LOADED_USER_ERRORS`` whose module it imported)."""
    loaded = [getattr(sys.modules[m], n) for m, n in LOADED_USER_ERRORS.items() if m in sys.modules]
    return (*USER_ERRORS, *loaded)


def _lost_ranks() -> tuple[type[Exception], ...]:
    """torch.distributed's error for a rank that died or hung, once a command loaded it."""
    dist = sys.modules.get("torch.distributed")
    return (dist.DistBackendError,) if dist is not None else ()


def _print_cycle(record: dict[str, Any]) -> None:
    extra = ""
    if "ranking_accuracy" in record:
        extra = f", LPM ranking acc {record['ranking_accuracy']:.3f}"
    metric = record.get("primary_metric", "accuracy")  # runs saved by earlier versions lack it
    tqdm.write(
        f"{record['strategy']:>14} seed {record['seed']} cycle {record['cycle']:>2} "
        f"labeled {record['labeled']:>6}: {metric} {100 * record[metric]:6.2f}%{extra} "
        f"(train {record['train_seconds']:.1f}s)"
        + (" - the stop rule is met" if record.get("stop_rule_met") else "")
    )


def show_progress(quiet: bool) -> bool:
    """Progress bars only on a terminal: redirected to a file (``nohup ... 2> log``) their
    carriage-return updates would fill it; the per-cycle lines still go to stdout."""
    return not quiet and sys.stderr.isatty()


def _experiment(
    config_name: str,
    out: str | Path | None,
    overrides: list[str],
    quiet: bool,
    reference: Path | None = None,
) -> int:
    from ll4al.config import load_config
    from ll4al.experiments.experiment import run_experiment
    from ll4al.experiments.report import write_report
    from ll4al.experiments.results import RESULTS_FILE
    from ll4al.experiments.validation import check_name

    config = load_config(config_name, overrides)
    check_name(config.name)  # before it becomes a path
    out_dir = Path(out or Path("runs") / config.name)
    main = _is_main_rank(config.device)
    say = print if main else _silent
    say(
        f"{config.name}: strategies {config.strategies}, seeds {config.seeds}, "
        f"{config.active.cycles} cycles -> {out_dir}"
    )
    progress = show_progress(quiet)
    run_experiment(config, out_dir, progress=progress, on_cycle=_print_cycle, log=tqdm.write)
    if not main:  # rank 0 writes the report
        return 0
    text, report, png = write_report(
        out_dir / RESULTS_FILE,
        title=config.name,
        reference=reference and reference / RESULTS_FILE,
    )
    print("\n" + text)
    print(f"results: {out_dir / RESULTS_FILE}\nreport:  {report}\nplot:    {png}")
    return 0


#: The demo's second half, the recommended path: the network pretrained on the pool (SimCLR),
#: a typical first batch, then rounds that train a head on the frozen embeddings; random,
#: core-set (what a project's ``strategy: auto`` picks there) and learning-loss-balanced.
POOL_FIRST = [
    "name=demo-pool-first",
    "model.mode=frozen",
    "active.first=typical",
    "strategies=[random, core-set, learning-loss-balanced]",
]


def _demo(args: argparse.Namespace) -> int:
    """``ll4al demo``: learning-loss-balanced against random from scratch in ``--out``, then
    (unless ``--from-scratch-only``) the pool-first path in ``--out/pool-first``, its labels
    saved counted against random from scratch. Both halves resume."""
    from ll4al.config import load_config
    from ll4al.experiments.pretrain import PretrainSettings, pretrain

    out = Path(args.out)
    _experiment("demo", out, args.overrides, args.quiet)
    if args.from_scratch_only:
        return 0
    pool_first = out / "pool-first"
    encoder = pool_first / "encoder.pt"
    overrides = [*POOL_FIRST, f"model.weights={encoder}", *args.overrides]
    config = load_config("demo", overrides)
    if not encoder.is_file():
        print(
            f"\npool first: SimCLR pretraining of {config.model.name} on the "
            f"{config.data.name} pool, labels unused, {args.pretrain_epochs} epochs -> {encoder}"
        )
        pool_first.mkdir(parents=True, exist_ok=True)
        settings = PretrainSettings(epochs=args.pretrain_epochs)
        result = pretrain(config, encoder, settings, show_progress(args.quiet), log=tqdm.write)
        print(f"pretrained in {result.seconds:.1f}s, final NT-Xent loss {result.loss:.4f}\n")
    return _experiment("demo", pool_first, overrides, args.quiet, reference=out)


def _report(args: argparse.Namespace) -> int:
    """Markdown on stdout (so it can be piped to a file), where it was written on stderr."""
    from ll4al.experiments.report import write_report
    from ll4al.experiments.results import RESULTS_FILE

    results = Path(args.run_dir) / RESULTS_FILE
    text, report, png = write_report(
        results,
        args.out,
        args.metric,
        args.baseline,
        title=_config_name(Path(args.run_dir)),
        cost_minutes=args.cost_minutes,
        cost_money=args.cost_money,
        currency=args.currency,
        reference=args.reference and Path(args.reference) / RESULTS_FILE,
    )
    print(text, end="")
    print(f"report: {report}\nplot:   {png}", file=sys.stderr)
    return 0


def _config_name(run_dir: Path) -> str:
    """The name in the run's ``config.yaml`` (the report's title), else the folder's name."""
    try:
        name = (yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("name")
    except (OSError, yaml.YAMLError, AttributeError):
        name = None
    return str(name) if name else run_dir.resolve().name


def _configs(args: argparse.Namespace) -> int:
    from ll4al.config import config_text
    from ll4al.experiments.catalog import catalog

    if args.action == "show":
        if not args.name:
            raise ConfigError("which config? e.g. `ll4al configs show cifar10-cpu`")
        print(config_text(args.name), end="")
    elif args.action == "names":
        print(catalog())
    else:
        print("\n".join(named_configs()))
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from ll4al.al.checks import check_runtime
    from ll4al.config import load_config
    from ll4al.experiments.pretrain import PretrainSettings, pretrain
    from ll4al.project.settings import SETTINGS_FILE

    given = {k: v for k in ("epochs", "batch_size", "lr") if (v := getattr(args, k)) is not None}
    settings = PretrainSettings(seed=args.seed, limit=args.limit, **given)
    if (Path(args.config) / SETTINGS_FILE).is_file():
        return _pretrain_project(args, settings)
    if args.out is None:
        raise ConfigError("--out FILE is needed for a config (a project keeps its own encoder)")
    config = load_config(args.config, args.overrides)
    check_runtime(config.device, config.precision)
    say = print if _is_main_rank(config.device) else _silent
    out = Path(args.out)  # refused now rather than after hours of training
    folder = next((p for p in out.parents if p.exists()), Path("."))
    if out.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: cannot write a checkpoint file there")
    say(
        f"{config.name}: SimCLR pretraining of {config.model.name} (width {config.model.width}) "
        f"on the {config.data.name} pool, epochs {settings.epochs}, batch {settings.batch_size}, "
        f"seed {settings.seed} -> {args.out}"
    )
    result = pretrain(config, args.out, settings, show_progress(args.quiet), log=tqdm.write)
    took = (
        f"{result.seconds:.1f}s"
        if result.seconds < 60
        else time.strftime("%H:%M:%S", time.gmtime(result.seconds))
    )
    say(
        f"pretrained in {took} ({result.images_per_second:.0f} images/s, {result.images} images "
        f"x {result.epochs} epoch(s)); final NT-Xent loss {result.loss:.4f}\n"
        f"weights: {args.out} (use it with --set model.weights={args.out})"
    )
    return 0


def _pretrain_project(args: argparse.Namespace, settings: Any) -> int:
    """``ll4al pretrain PROJECT``: the project's own encoder (``PretrainSettings``)."""
    from ll4al.al.checks import check_runtime
    from ll4al.project.encoder import pretrain_project
    from ll4al.project.project import Project

    if args.out is not None or args.overrides:
        raise ConfigError(
            "a project's encoder goes to PROJECT/encoder/encoder.pt and its network is the "
            "project's model: --out and --set are for configs"
        )
    project = Project.open(args.config)
    try:
        check_runtime(project.settings.device, project.settings.precision)
        say = print if _is_main_rank(project.settings.device) else _silent
        say(
            f"{project.folder}: SimCLR pretraining of {project.settings.model.name} on its "
            f"images (labels unused), epochs {settings.epochs}, batch {settings.batch_size}; "
            "interrupt it and run it again to resume"
        )
        result = pretrain_project(project, settings, show_progress(args.quiet), log=tqdm.write)
    finally:
        project.close()
    say(
        f"pretrained in {result.seconds / 60:.1f} min ({result.images_per_second:.0f} images/s); "
        f"encoder: {project.encoder_path()} (the next query uses it)"
    )
    return 0


def _is_main_rank(device: str) -> bool:
    """Whether this process speaks: a plain process, or torchrun's rank 0 (joins torchrun's
    process group, a no-op in a plain process). The other ranks stay silent."""
    from ll4al.distributed import device_for, init_distributed
    from ll4al.runtime import select_device

    return init_distributed(device_for(select_device(device))).is_main


def _silent(*_args: object, **_kwargs: object) -> None:
    """What the other ranks say."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ll4al", description="Deep active learning with Learning Loss: what to label next."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="from scratch, then pool first, against random on the bundled digits data",
        description="On scikit-learn's bundled digits (3 seeds, 6 cycles; the shipped config "
        "`demo`, see `ll4al configs show demo`): learning-loss-balanced against random from "
        "scratch in OUT; then the recommended path in OUT/pool-first: the network pretrained "
        "on the pool without labels, a typical first batch, and rounds that train a head on "
        "its frozen embeddings (random, core-set, learning-loss-balanced), its labels saved "
        "counted against random from scratch. Interrupt it and run it again: it resumes.",
    )
    demo.add_argument("--out", default="ll4al-demo", help="output directory (default: ll4al-demo)")
    demo.add_argument(
        "--from-scratch-only", action="store_true", help="stop after the from-scratch half"
    )
    demo.add_argument(
        "--pretrain-epochs", type=int, default=30, help="the pool-first half's pretraining (30)"
    )
    run = sub.add_parser(
        "run",
        help="run an experiment from a config file or shipped name",
        description="Run (or resume) every strategy and seed of a config. `ll4al configs` "
        "lists the shipped configs, `ll4al configs show NAME` prints one to copy and edit, "
        "`ll4al configs names` lists the data sets, models and strategies a config can name.",
    )
    run.add_argument("config", help=f"a YAML file or one of: {', '.join(named_configs())}")
    run.add_argument("--out", help="output directory (default: runs/<config name>)")
    for command in (demo, run):
        add_overrides_argument(command, "train.epochs=5 or seeds=[0,1]")
        command.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(handler=_demo)
    run.set_defaults(handler=lambda a: _experiment(a.config, a.out, a.overrides, a.quiet))

    report = sub.add_parser("report", help="a Markdown report and plot of a run's results")
    report.add_argument("run_dir", help="an output directory of `ll4al run` or `ll4al demo`")
    report.add_argument(
        "--metric", help="recorded metric to report (default: the task's, e.g. accuracy or pck)"
    )
    report.add_argument("--out", help="directory for report.md and the plot (default: RUN_DIR)")
    report.add_argument(
        "--baseline", help="strategy for the paired comparison (default: random, if present)"
    )
    report.add_argument(
        "--cost-minutes",
        type=float,
        metavar="MINUTES",
        help="annotation time per label: also show the labels saved as hours (e.g. 4.5)",
    )
    report.add_argument(
        "--cost-money",
        type=float,
        metavar="AMOUNT",
        help="annotation cost per label: also show the labels saved as money (e.g. 25)",
    )
    report.add_argument("--currency", help="the unit of --cost-money, e.g. RMB or USD")
    report.add_argument(
        "--reference",
        metavar="RUN_DIR",
        help="count the labels saved against the baseline's final result in this other run "
        "(e.g. random from scratch at 4,000 labels) instead of this run's",
    )
    report.set_defaults(handler=_report)

    configs = sub.add_parser(
        "configs",
        help="the shipped configs; `show NAME` prints one, `names` what a config can name",
    )
    configs.add_argument("action", nargs="?", choices=("list", "show", "names"), default="list")
    configs.add_argument("name", nargs="?", help="the config to show")
    configs.set_defaults(handler=_configs)
    pre = sub.add_parser(
        "pretrain",
        help="self-supervised pretraining (SimCLR) on a project's or a config's pool",
        description="Pretrain the network (model.name, model.width) on the pool's images "
        "without labels (SimCLR: two augmented views per image, NT-Xent loss; never the test "
        "set). For a labeling project: its encoder, PROJECT/encoder/encoder.pt, which later "
        "queries start from (model.mode auto: a head on its cached embeddings). For a config: "
        "its weights, without classifier head, to --out for `--set model.weights=FILE`. "
        "Saved after every epoch: interrupt it and run it again to resume.",
    )
    pre.add_argument(
        "config",
        help=f"a labeling project's folder, a YAML file or one of: {', '.join(named_configs())}",
    )
    pre.add_argument("--out", help="the checkpoint to write, for a config (a state_dict)")
    pre.add_argument("--epochs", type=int, help="passes over the pool (default: 30)")
    pre.add_argument("--batch-size", type=int, help="images per step, two views each (256)")
    pre.add_argument("--lr", type=float, help="SGD learning rate at batch 256 (default: 0.06)")
    pre.add_argument("--seed", type=int, default=0, help="seed of weights, order and views (0)")
    pre.add_argument("--limit", type=int, help="only this many random pool images (smoke tests)")
    add_overrides_argument(pre, "model.width=0.5")
    pre.add_argument("--quiet", action="store_true", help="no progress bars")
    pre.set_defaults(handler=_pretrain)
    add_prefer_parser(sub).set_defaults(handler=run_prefer)
    add_project_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status = _dispatch(args)
    if status == 0 and "torch.distributed" in sys.modules:  # no process group without it
        from ll4al.distributed import finish_distributed

        finish_distributed()  # under torchrun: all ranks leave together
    return status


def _dispatch(args: argparse.Namespace) -> int:
    """Run one command (the handler its parser set); bad input is a one-line error, never a
    traceback."""
    try:
        return args.handler(args)
    except user_errors() as err:
        print(f"ll4al: error: {' '.join(str(err).splitlines())}", file=sys.stderr)
        return 2
    except _lost_ranks() as err:  # under torchrun: another rank died or hung
        rank = os.environ.get("RANK", "?")
        print(
            f"ll4al: error: rank {rank} lost the other ranks of this torchrun job ({err}); "
            "the state saved after the last finished cycle is kept: run the same torchrun "
            "command again to resume",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("\nll4al: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`ll4al status P | head -1`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
