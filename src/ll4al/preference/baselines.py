"""The peers I-NSGA-II/LTR is compared with, all taken from pymoo and run on the same budget.

- ``nsga2``: plain NSGA-II, no preference at all (the floor).
- ``r-nsga2``: R-NSGA-II handed the DM's golden point as its reference point: it knows the
  answer the interactive methods must learn, so it is an oracle upper bound.
- ``pinsga2``: pymoo's interactive PINSGA2 (a value function fitted to DM rankings), driven by
  the same simulated DM through pymoo's ``AutomatedDM`` interface, with the same query cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.algorithms.moo.pinsga2 import PINSGA2, AutomatedDM
from pymoo.algorithms.moo.rnsga2 import RNSGA2
from pymoo.core.algorithm import Algorithm
from pymoo.core.problem import Problem

from ll4al.preference.decision_maker import DecisionMaker


@dataclass
class RunResult:
    """Final population of one baseline run and what it cost."""

    F: np.ndarray
    n_evals: int
    dm_queries: int = 0


def _run(algorithm: Algorithm, problem: Problem, n_gen: int, seed: int) -> RunResult:
    algorithm.setup(problem, termination=("n_gen", n_gen), seed=seed, verbose=False)
    while algorithm.has_next():
        algorithm.next()
    return RunResult(F=algorithm.pop.get("F"), n_evals=int(algorithm.evaluator.n_eval))


def run_nsga2(problem: Problem, pop_size: int, n_gen: int, seed: int = 0) -> RunResult:
    """Plain NSGA-II."""
    return _run(NSGA2(pop_size=pop_size), problem, n_gen, seed)


def run_rnsga2(
    problem: Problem,
    golden_point: np.ndarray,
    pop_size: int,
    n_gen: int,
    seed: int = 0,
    epsilon: float = 0.001,
) -> RunResult:
    """R-NSGA-II with the golden point as its single reference point (pymoo's defaults)."""
    algorithm = RNSGA2(ref_points=np.atleast_2d(golden_point), pop_size=pop_size, epsilon=epsilon)
    return _run(algorithm, problem, n_gen, seed)


class _CountingDM(AutomatedDM):
    """pymoo's pairwise ``AutomatedDM`` answering from one of our decision makers.

    PINSGA2 shows its pair as rows ``a`` and ``b`` and expects ``"a"`` or ``"b"``.
    """

    def __init__(self, dm: DecisionMaker) -> None:
        super().__init__()
        self.dm = dm
        self.n_queries = 0

    def makeDecision(self, F: np.ndarray) -> str:  # noqa: N802 - pymoo's name
        self.n_queries += 1
        return "a" if self.dm.prefers_first(F[0], F[1]) else "b"


def run_pinsga2(
    problem: Problem,
    dm: DecisionMaker,
    pop_size: int,
    n_gen: int,
    tau: int = 10,
    max_queries: int | None = None,
    eta: int = 5,
    seed: int = 0,
) -> RunResult:
    """PINSGA2 consulting every ``tau`` generations while the query cap allows.

    PINSGA2 ranks ``eta`` points by pairwise insertion, which costs between ``eta - 1`` and
    ``eta (eta - 1) / 2`` questions; ``eta = 5`` makes the worst case equal to I-NSGA-II/LTR's
    ``mu = 10`` pairs. A consultation is only started while the cap still covers that worst
    case, so PINSGA2 never exceeds the cap; it is switched off by raising its ``tau`` past the
    generation budget.

    The value function is pymoo's polynomial one for two objectives and the linear one
    otherwise: pymoo 0.6.2's polynomial equality constraint hard-codes two objectives
    (``M = floor(sqrt(6))``) and fails for three or more.
    """
    adapter = _CountingDM(dm)
    vf_type = "poly" if problem.n_obj == 2 else "linear"
    algorithm = PINSGA2(pop_size=pop_size, tau=tau, eta=eta, vf_type=vf_type, automated_dm=adapter)
    algorithm.setup(problem, termination=("n_gen", n_gen), seed=seed, verbose=False)
    worst_case = eta * (eta - 1) // 2
    while algorithm.has_next():
        upcoming = algorithm.n_gen + 1 if algorithm.n_gen is not None else 1
        if (
            max_queries is not None
            and upcoming % algorithm.tau == 0
            and adapter.n_queries + worst_case > max_queries
        ):
            algorithm.tau = n_gen + 1
        algorithm.next()
    return RunResult(
        F=algorithm.pop.get("F"),
        n_evals=int(algorithm.evaluator.n_eval),
        dm_queries=adapter.n_queries,
    )
