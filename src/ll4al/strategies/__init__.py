"""Query strategies, one small class each, behind ``QueryStrategy.query``."""

from __future__ import annotations

from ll4al.strategies.badge import BadgeStrategy
from ll4al.strategies.bald import BaldStrategy
from ll4al.strategies.base import QueryContext, QueryStrategy, top_k
from ll4al.strategies.coreset import CoreSetStrategy
from ll4al.strategies.egl import ExpectedGradientLengthStrategy
from ll4al.strategies.entropy import EntropyStrategy
from ll4al.strategies.learning_loss import LearningLossStrategy
from ll4al.strategies.learning_loss_balanced import LearningLossBalancedStrategy
from ll4al.strategies.learning_loss_budget import LearningLossBudgetStrategy
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
        MarginStrategy,
        LeastConfidenceStrategy,
        BaldStrategy,
        BadgeStrategy,
        ExpectedGradientLengthStrategy,
    )
}


def get_strategy(name: str) -> QueryStrategy:
    """A strategy by its name, with default settings.

    ``random``, ``entropy``, ``core-set``, ``learning-loss``, ``margin``, ``least-confidence``,
    ``bald``, ``badge``, ``egl``, ``learning-loss-diverse``, ``learning-loss-balanced``,
    ``learning-loss-budget``.
    """
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValueError(f"Unknown strategy {name!r}; choose from {sorted(STRATEGIES)}") from None


__all__ = [
    "STRATEGIES",
    "BadgeStrategy",
    "BaldStrategy",
    "CoreSetStrategy",
    "EntropyStrategy",
    "ExpectedGradientLengthStrategy",
    "LearningLossBalancedStrategy",
    "LearningLossBudgetStrategy",
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
