"""Query strategies, one small class each, behind ``QueryStrategy.query``."""

from __future__ import annotations

from ll4al.strategies.base import QueryContext, QueryStrategy, top_k
from ll4al.strategies.coreset import CoreSetStrategy
from ll4al.strategies.entropy import EntropyStrategy
from ll4al.strategies.learning_loss import LearningLossStrategy
from ll4al.strategies.random import RandomStrategy

STRATEGIES: dict[str, type[QueryStrategy]] = {
    cls.name: cls
    for cls in (RandomStrategy, EntropyStrategy, CoreSetStrategy, LearningLossStrategy)
}


def get_strategy(name: str) -> QueryStrategy:
    """A strategy by its name (``random``, ``entropy``, ``core-set``, ``learning-loss``)."""
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValueError(f"Unknown strategy {name!r}; choose from {sorted(STRATEGIES)}") from None


__all__ = [
    "STRATEGIES",
    "CoreSetStrategy",
    "EntropyStrategy",
    "LearningLossStrategy",
    "QueryContext",
    "QueryStrategy",
    "RandomStrategy",
    "get_strategy",
    "top_k",
]
