"""Interactive multi-objective optimisation via learning-to-rank (I-NSGA-II/LTR).

Needs the ``preference`` extra (``pip install ll4al[preference]``: pymoo, scipy).
"""

from ll4al.preference.algorithm import LTRResult, choose_pairs, run_ltr_nsga2
from ll4al.preference.decision_maker import (
    ChebyshevDM,
    DecisionMaker,
    DMStopped,
    HumanDM,
    default_weights,
)
from ll4al.preference.model import ObjectiveNormalizer, PreferenceModel, RankNet, train_ranknet
from ll4al.preference.survival import PreferenceSurvival, select_by_score

__all__ = [
    "ChebyshevDM",
    "DMStopped",
    "DecisionMaker",
    "HumanDM",
    "LTRResult",
    "ObjectiveNormalizer",
    "PreferenceModel",
    "PreferenceSurvival",
    "RankNet",
    "choose_pairs",
    "default_weights",
    "run_ltr_nsga2",
    "select_by_score",
    "train_ranknet",
]
