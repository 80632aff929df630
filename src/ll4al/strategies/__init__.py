"""Query strategies, one small class each, behind ``QueryStrategy.query``."""

from __future__ import annotations

import inspect
import re
from typing import Any

import yaml

from ll4al.strategies.badge import BadgeStrategy
from ll4al.strategies.bald import BaldStrategy
from ll4al.strategies.base import QueryContext, QueryStrategy, top_k
from ll4al.strategies.coreset import CoreSetStrategy
from ll4al.strategies.egl import ExpectedGradientLengthStrategy
from ll4al.strategies.entropy import EntropyStrategy
from ll4al.strategies.learning_loss import LearningLossStrategy
from ll4al.strategies.learning_loss_balanced import LearningLossBalancedStrategy
from ll4al.strategies.learning_loss_budget import LearningLossBudgetStrategy
from ll4al.strategies.learning_loss_cover import LearningLossCoverStrategy
from ll4al.strategies.learning_loss_diverse import LearningLossDiverseStrategy
from ll4al.strategies.least_confidence import LeastConfidenceStrategy
from ll4al.strategies.margin import MarginStrategy
from ll4al.strategies.random import RandomStrategy

STRATEGIES: dict[str, type[QueryStrategy]] = {
    cls.name: cls
    for cls in (
        RandomStrategy,
        EntropyStrategy,
        CoreSetStrategy,
        LearningLossStrategy,
        LearningLossDiverseStrategy,
        LearningLossBalancedStrategy,
        LearningLossBudgetStrategy,
        LearningLossCoverStrategy,
        MarginStrategy,
        LeastConfidenceStrategy,
        BaldStrategy,
        BadgeStrategy,
        ExpectedGradientLengthStrategy,
    )
}


def parse_strategy(spec: str) -> tuple[str, dict[str, Any]]:
    """``name`` or ``name(key=value, ...)``: a strategy and constructor options for it.

    Why in the name: a config's ``strategies`` list can then hold two settings of one
    strategy side by side (a sweep on the validation split), and each run's records carry
    the settings that produced them. Values are YAML scalars (``20``, ``0.55``, ``true``).
    """
    match = _SPEC.fullmatch(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(f"strategy {spec!r} is not NAME or NAME(key=value, ...)")
    name, body = match.group(1), match.group(2)
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in (body or "").split(","))):
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or not key.isidentifier():
            raise ValueError(f"strategy {spec!r}: option {item!r} is not key=value")
        try:
            value = yaml.safe_load(text.strip())
        except yaml.YAMLError:
            value = None
        if key in options:
            raise ValueError(f"strategy {spec!r}: option {key!r} is given twice")
        if not isinstance(value, (int, float, str)):
            raise ValueError(f"strategy {spec!r}: option {item!r} needs one number or word")
        options[key] = value
    return name, options


def strategy_label(name: str, options: dict[str, Any]) -> str:
    """The canonical spelling of a strategy with options: ``name(k=v,k2=v2)``, no spaces."""
    if not options:
        return name
    return f"{name}({','.join(f'{k}={v}' for k, v in options.items())})"


def get_strategy(spec: str) -> QueryStrategy:
    """A strategy by its name, with default settings, or ``name(key=value, ...)`` with the
    given constructor options; its ``name`` is then the canonical spelling of the spec.

    ``random``, ``entropy``, ``core-set``, ``learning-loss``, ``margin``, ``least-confidence``,
    ``bald``, ``badge``, ``egl``, ``learning-loss-diverse``, ``learning-loss-balanced``,
    ``learning-loss-budget``, ``learning-loss-cover``.
    """
    name, options = parse_strategy(spec)
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    cls = STRATEGIES[name]
    takes = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = [key for key in options if key not in takes]
    if unknown:
        offered = ", ".join(takes) if takes else "no options"
        raise ValueError(f"strategy {name!r} has no option {unknown[0]!r}; it takes {offered}")
    try:
        strategy = cls(**options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"strategy {spec!r}: {err}") from None
    if options:
        strategy.name = strategy_label(name, options)  # type: ignore[misc]
    return strategy


#: ``name`` then optionally ``(...)``; the options are split and checked by parse_strategy.
_SPEC = re.compile(r"([a-z0-9][a-z0-9-]*)(?:\((.*)\))?", re.DOTALL)


__all__ = [
    "STRATEGIES",
    "parse_strategy",
    "strategy_label",
    "BadgeStrategy",
    "BaldStrategy",
    "CoreSetStrategy",
    "EntropyStrategy",
    "ExpectedGradientLengthStrategy",
    "LearningLossBalancedStrategy",
    "LearningLossBudgetStrategy",
    "LearningLossCoverStrategy",
    "LearningLossDiverseStrategy",
    "LearningLossStrategy",
    "LeastConfidenceStrategy",
    "MarginStrategy",
    "QueryContext",
    "QueryStrategy",
    "RandomStrategy",
    "get_strategy",
    "top_k",
]
