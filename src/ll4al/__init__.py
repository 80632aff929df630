"""ll4al: deep active learning with Learning Loss (Yoo & Kweon, CVPR 2019).

The public API: wrap any network with :class:`LearningLoss`, train it with
:func:`joint_loss`, and pick what to label next with a :class:`QueryStrategy`.
"""

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
