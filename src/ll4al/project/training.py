"""A project's training per round: its ``train`` settings, with those it leaves to the rule
(``train_auto``) fitted to the round's label count by ``ll4al.al.fit_rule``."""

from __future__ import annotations

from typing import Any

from ll4al.al.fit_rule import AUTO_KEYS, RULES
from ll4al.config import ConfigError, TrainSettings
from ll4al.project.settings import ProjectSettings


def round_train_settings(settings: ProjectSettings, labeled: int) -> TrainSettings:
    """The settings a round on ``labeled`` labels trains with."""
    if not settings.train_auto:
        return settings.train
    return RULES[settings.task].apply(settings.train, labeled, settings.train_auto)


def unpinned(auto: list[str], options: dict[str, Any], overrides: list[str]) -> list[str]:
    """``auto`` less the train settings a new project's user set (``--set train.KEY=...`` or
    an option): what the user sets is used as set, at every label count."""
    if not isinstance(auto, list) or set(auto) - set(AUTO_KEYS):
        raise ConfigError(f"train_auto must be a list of some of {list(AUTO_KEYS)}, got {auto!r}")
    pinned = set(options.get("train") or {})
    pinned |= {o.split("=", 1)[0].removeprefix("train.") for o in overrides}
    return [key for key in auto if key not in pinned]


def describe_training(record: dict[str, Any]) -> str:
    """A round's training in a few words, for the query's log."""
    drops = ", ".join(str(m) for m in record["milestones"])
    schedule = f" (x{record['gamma']:g} at epoch {drops})" if drops else ""
    return (
        f"batch {record['batch_size']}, {record['steps']} steps in {record['epochs']} epochs, "
        f"lr {record['lr']:g}{schedule}, augment {record['augment']}"
    )
