"""ll4al: deep active learning with Learning Loss (Yoo & Kweon, CVPR 2019)."""

from ll4al.losses import joint_loss, ranking_accuracy, ranking_loss

__all__ = ["joint_loss", "ranking_accuracy", "ranking_loss"]
__version__ = "0.1.0"
