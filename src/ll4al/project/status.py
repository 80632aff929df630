"""``ll4al status``: labels per class, batches, time and money spent, the last model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ll4al.al.forecast import StopCheck, agreement_check, forecast, stop_check
from ll4al.files import read_json
from ll4al.project.encoder import describe_encoder, encoder_provenance
from ll4al.project.integrity import ImageCheck, check_images, named
from ll4al.project.project import Project


def status(project: Project, images: ImageCheck | None = None) -> dict[str, Any]:
    """Labels per class, batches and their progress, time and money spent, disagreements,
    replaced or missing images (``images``, checked here if not given), the last round's
    metric: what ``ll4al status`` prints."""
    store, settings = project.store, project.settings
    labels = store.labels()
    skips = store.skips()
    decided = store.decided_labels()
    per_class: Counter = Counter()
    for value in decided.values():
        names = value["labels"] if isinstance(value, dict) else [value]
        per_class.update(names)
    recorded = [row["seconds"] for row in labels if row["seconds"] is not None]
    # a skip took its annotator's time too; one without a recorded time costs nothing
    recorded_skips = [row["seconds"] for row in skips if row["seconds"] is not None]
    unrecorded = len(labels) - len(recorded)
    cost = settings.cost
    measured = sum(recorded) + sum(recorded_skips)
    seconds = measured + unrecorded * cost.minutes * 60
    rounds = store.model_rounds()
    last = rounds[-1] if rounds else None
    images = check_images(project) if images is None else images
    batches = store.batches()
    k = batches[-1]["size"] if batches else DEFAULT_NEXT
    per_label_hours = seconds / 3600 / len(labels) if labels else cost.minutes / 60
    return {
        "images": project.store.pool_size(),
        "labeled": len(decided),
        "labels": len(labels),
        "per_class": {name: per_class.get(name, 0) for name in settings.classes},
        "batches": [dict(b) for b in store.batches()],
        "hours": seconds / 3600,
        "hours_measured": measured / 3600,
        "labels_timed": len(recorded),
        "money": len(labels) * cost.money,
        "currency": cost.currency,
        "disagreements": store.disagreements(),
        "replaced": images.replaced,
        "missing": images.missing,
        "labels_aside": len(store.labels_aside()),
        "skipped": [
            {"batch": k["batch"], "sample": k["sample"], "annotator": k["annotator"]} for k in skips
        ],
        "encoder": encoder_provenance(project),
        "last_round": None
        if last is None
        else {
            "round": last["round"],
            "labeled": last["labeled"],
            "metrics": json.loads(last["metrics"]) if last["metrics"] else None,
            "trained": _round_info(project, last["weights"]),
        },
        "next_batch": next_batch(project, k, per_label_hours),
    }


#: The next batch's size where the project has no batch yet to take it from.
DEFAULT_NEXT = 100


def metric_curve(project: Project) -> tuple[list[int], list[float]]:
    """The rounds' label counts and metric on the evaluation set, rounds without a metric
    left out."""
    metric = project.labels.metric_name
    labels, values = [], []
    for row in project.store.model_rounds():
        metrics = json.loads(row["metrics"]) if row["metrics"] else None
        if metrics and metric in metrics:
            labels.append(int(row["labeled"]))
            values.append(float(metrics[metric]))
    return labels, values


def stop_file(project: Project, round_index: int) -> Path:
    """``models/round-NNN-stop.json``: a round's label-free signals and its predictions on
    the stop set (``stop.stop_set``), written by ``query`` after training the round."""
    return project.folder / "models" / f"round-{round_index:03d}-stop.json"


def label_free_signals(project: Project) -> list[dict[str, Any]]:
    """The rounds' label-free signals (``ll4al.al.signals``), oldest first, without the
    predictions; rounds trained without a stop set are left out."""
    rows = []
    for row in project.store.model_rounds():
        path = stop_file(project, row["round"])
        if path.is_file():
            saved = read_json(path)
            rows.append({"round": row["round"], "labeled": row["labeled"], **saved["signals"]})
    return rows


def stop_verdict(project: Project, k: int) -> dict[str, Any] | None:
    """The project's stop rule (``stop:`` in project.yaml) on its rounds so far, None while
    no rule is set: met where the gain rule (it needs an evaluation set) or the agreement rule
    (it needs the stop set's signals) is."""
    rule = project.settings.stop
    if not (rule.on_gain or rule.min_agreement is not None):
        return None
    checks = []
    if rule.on_gain:
        labels, values = metric_curve(project)
        if labels:
            checks.append(stop_check(labels, values, k, rule, project.settings.cost.money))
        else:
            reason = "gain rule not checked: no round has a metric (no evaluation set)"
            checks.append(StopCheck(False, reason, ()))
    if rule.min_agreement is not None:
        agreements = [row["stop_agreement"] for row in label_free_signals(project)]
        checks.append(agreement_check(agreements, rule))
    done = [c for c in checks if c is not None]
    met = [c for c in done if c.met]
    shown = met[:1] if met else done
    return {
        "met": bool(met),
        "reason": "; ".join(c.reason for c in shown),
        "forecasts": [f.to_dict() for c in shown for f in c.forecasts],
    }


def next_batch(project: Project, k: int, per_label_hours: float) -> dict[str, Any]:
    """What the next ``k`` labels are expected to buy (``ll4al.al.forecast``) and cost, at the
    project's rate: hours at the labels' measured mean (the configured rate where none is
    timed), money at ``cost.money``; ``forecast`` is None with no evaluation set or fewer than
    two evaluated rounds, and ``reason`` says which."""
    settings = project.settings
    labels, values = metric_curve(project)
    predicted = forecast(labels, values, k) if len(labels) >= 2 else None
    if predicted is not None:
        reason = None
    elif settings.evaluation is None:
        reason = "no evaluation set (project.yaml: evaluation), so no forecast in points"
    else:
        reason = f"{len(labels)} evaluated round(s): a forecast needs two"
    return {
        "k": k,
        "hours": k * per_label_hours,
        "money": k * settings.cost.money,
        "currency": settings.cost.currency,
        "metric": project.labels.metric_name,
        "forecast": None if predicted is None else predicted.to_dict(),
        "reason": reason,
        "signals": label_free_signals(project),
        "stop": stop_verdict(project, k),
    }


def describe_next_batch(info: dict[str, Any]) -> list[str]:
    """``next 100 labels: +0.8 points (0.2-1.5), about 7.5 h and 2,500 RMB``, the model, and
    the stop rule's verdict: the lines ``status`` and the status page show."""
    nxt = info["next_batch"]
    cost = f"about {nxt['hours']:.1f} h"
    if nxt["money"]:
        cost += f" and {nxt['money']:,.0f} {nxt['currency']}".rstrip()
    f = nxt["forecast"]
    if f is None:
        lines = [f"next {nxt['k']} labels: {cost}; {nxt['reason']}"]
    else:
        gain, low, high = (100 * f[key] for key in ("gain", "low", "high"))
        model = "inverse power law" if f["model"] == "power" else "log-linear curve"
        lines = [
            f"next {nxt['k']} labels: {gain:+.1f} points of {nxt['metric']} "
            f"({low:+.1f} to {high:+.1f}, 80% interval), {cost}",
            f"  ({model} fitted to {f['rounds']} rounds; {f['points_per_100']:+.2f} points "
            "per 100 labels)",
        ]
        if nxt["money"] and f["gain"] > 0:
            lines[-1] = lines[-1][:-1] + (
                f"; {nxt['money'] / (100 * f['gain']):,.0f} {nxt['currency']} a point)"
            )
    signals = nxt["signals"]
    if signals:
        last = signals[-1]
        parts = []
        if last["stop_agreement"] is not None:
            parts.append(
                f"predictions agree with the previous round's (kappa {last['stop_agreement']:.3f})"
            )
        if last["stop_uncertainty"] is not None:
            parts.append(f"mean uncertainty {last['stop_uncertainty']:.3f}")
        if last["stop_predicted_loss"] is not None:
            parts.append(f"mean predicted loss {last['stop_predicted_loss']:.3f}")
        history = ", ".join(
            "-" if row["stop_agreement"] is None else f"{row['stop_agreement']:.2f}"
            for row in signals
        )
        lines.append(
            f"label-free signals, round {last['round']} on a stop set of {last['stop_set']}: "
            + "; ".join(parts)
            + f" (kappa by round: {history})"
        )
    elif f is None and (nxt["reason"] or "").startswith("no evaluation set"):
        lines.append(
            "  set stop.stop_set in project.yaml (e.g. 1000) to record label-free "
            "stop signals each round"
        )
    if nxt["stop"] is not None:
        lines.append(nxt["stop"]["reason"])
    return lines


def _round_info(project: Project, weights: str) -> dict[str, Any] | None:
    """``round-NNN.json`` beside a round's weights: how it was trained (None for rounds
    saved before it existed)."""
    path = (project.folder / "models" / weights).with_suffix(".json")
    return read_json(path) if path.is_file() else None


def _how(trained: dict[str, Any] | None) -> str:
    """How a round was trained, as ``status`` says it (nothing for rounds from before)."""
    if trained is None:
        return ""
    if trained["mode"] == "frozen":
        return " (a head on the encoder's frozen embeddings)"
    return " (fine-tuned from the encoder)" if trained["encoder"] else " (from random weights)"


def format_status(project: Project, info: dict[str, Any]) -> str:
    lines = [
        f"{project.folder}: {info['labeled']} of {info['images']} images labeled "
        f"({info['labels']} labels given)",
        "labels per class: " + ", ".join(f"{k} {v}" for k, v in info["per_class"].items()),
    ]
    for b in info["batches"]:
        source = f"round {b['round']}, {b['strategy']}"
        if b["round"] is None:
            source = "random draw" if b["strategy"] == "random" else f"{b['strategy']} first batch"
        lines.append(
            f"batch {b['id']:>3} ({source}, {b['created']}): {b['labeled']}/{b['size']} "
            f"labeled, "
            + (f"{b['skipped']} skipped as cannot be labeled, " if b["skipped"] else "")
            + b["status"]
        )
    money = f", {info['money']:.2f} {info['currency']}".rstrip() if info["money"] else ""
    lines.append(
        f"annotation time: {info['hours']:.2f} h ({info['labels_timed']} labels timed, "
        f"{info['hours_measured']:.2f} h measured; the rest at the configured rate){money}"
    )
    disagreements = info["disagreements"]
    if disagreements:
        shown = "; ".join(
            f"{s}: " + ", ".join(f"{a or '?'}={v}" for a, v in by.items())
            for s, by in list(disagreements.items())[:5]
        )
        lines.append(f"annotators disagree on {len(disagreements)} images: {shown}")
    if info["replaced"]:
        lines.append(
            f"REPLACED: {len(info['replaced'])} images differ from the pixels they were "
            f"registered (and labeled) as: {named(info['replaced'])}; query and export refuse "
            f"until the originals are back or `ll4al add {project.folder} --accept-changed` "
            "registers the new pixels (their labels set aside)"
        )
    if info["missing"]:
        lines.append(
            f"MISSING: {len(info['missing'])} registered images are gone from "
            f"{project.images_root}: {named(info['missing'])}; put them back"
        )
    if info["labels_aside"]:
        lines.append(
            f"{info['labels_aside']} labels set aside (given for pixels since replaced; "
            "table labels_aside)"
        )
    lines.append(describe_encoder(info["encoder"], info["images"]))
    last = info["last_round"]
    if last is not None and last["metrics"]:
        metric = project.labels.metric_name
        lines.append(
            f"last model (round {last['round']}, {last['labeled']} labels): {metric} "
            f"{last['metrics'][metric]:.4f} on the evaluation set{_how(last['trained'])}"
        )
    if last is not None:
        lines.extend(describe_next_batch(info))
    return "\n".join(lines)
