"""ll4al: deep active learning with Learning Loss (Yoo & Kweon, CVPR 2019).

The public API: wrap any network with :class:`LearningLoss`, train it with
:func:`joint_loss`, and pick what to label next with a :class:`QueryStrategy`. Each name loads
on first use, so ``ll4al status`` and the other light commands never import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ll4al.lazy import lazy_attributes

if TYPE_CHECKING:
    from ll4al.al.pool import Pool, SimulatedOracle
    from ll4al.models.learner import Learner
    from ll4al.models.losses import joint_loss, ranking_accuracy, ranking_loss
    from ll4al.models.lpm import LearningLoss
    from ll4al.strategies import STRATEGIES, QueryStrategy, get_strategy
    from ll4al.tasks import ClassificationTask, KeypointTask, TaskAdapter

__all__ = [
    "STRATEGIES",
    "ClassificationTask",
    "KeypointTask",
    "Learner",
    "LearningLoss",
    "Pool",
    "QueryStrategy",
    "SimulatedOracle",
    "TaskAdapter",
    "get_strategy",
    "joint_loss",
    "ranking_accuracy",
    "ranking_loss",
]
__version__ = "0.1.0"
__getattr__ = lazy_attributes(
    __name__,
    {
        "Learner": "ll4al.models.learner",
        "Pool": "ll4al.al.pool",
        "SimulatedOracle": "ll4al.al.pool",
        "joint_loss": "ll4al.models.losses",
        "ranking_accuracy": "ll4al.models.losses",
        "ranking_loss": "ll4al.models.losses",
        "LearningLoss": "ll4al.models.lpm",
        "STRATEGIES": "ll4al.strategies",
        "QueryStrategy": "ll4al.strategies",
        "get_strategy": "ll4al.strategies",
        "ClassificationTask": "ll4al.tasks",
        "KeypointTask": "ll4al.tasks",
        "TaskAdapter": "ll4al.tasks",
    },
)
