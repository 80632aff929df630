"""NSGA-II environmental selection in which the learned preference replaces crowding distance.

Non-dominated sorting is kept as is, so convergence pressure towards the Pareto front is that of
NSGA-II. Only the last, partly accepted front is cut by the RankNet score instead of crowding
distance, which pulls the population towards the DM's region of interest (ROI).

Diversity rule. Cutting by score alone would fill the last front with near-copies of the single
best-scored point, and the population would collapse long before the model (trained on a few
dozen pairs) is reliable. So the last front is filled greedily in score order, *skipping* any
candidate closer than ``niche_radius`` (Euclidean, in the model's normalised objective space)
to one already taken from that front; the skipped candidates fill the remaining slots, again in
score order, only if too few are left. The best-scored point always survives, so the radius
bounds how tightly the population packs around the ROI, not how close it gets to it.

Extreme points (``keep_extremes``, off by default). When set, the member of the first front
with the largest value of each objective survives whatever its score, as NSGA-II's infinite
crowding distance keeps it. Why it exists: DTLZ4's biased mapping can crowd the population
onto an edge or a corner of the front within the first generations, before the first
consultation; plain NSGA-II often recovers because the member that reaches furthest along
the lost objective is always kept. Why it is off: on the tuning seeds 21-40 (DTLZ4, m = 3)
it rescued one of the five collapsed runs (seed 34, epsilon* 0.90 -> 0.12) and none of the
others (on seed 23 plain NSGA-II itself stays in the corner), at the cost of ``m`` places.

Crowding share (``crowding_share``). A share of the places left in the cut front goes to its
members of largest NSGA-II crowding distance (each objective's extremes first), the rest by
score as above. Why: on DTLZ4 the biased mapping can crowd the whole population onto an edge
or corner of the front within the first generations, before the first consultation. Plain
NSGA-II then often walks back out, because crowding keeps the members that reach furthest
along the lost objective and their offspring creep further; cut by score alone, those
members (whose objective values differ from the rest by tiny amounts the DM's value cannot
see) are dropped, and the run stays on the edge. ``keep_extremes`` keeps only the m
extremes and rescued one of five such runs; a share of the cut, so a handful of members
spread along the front, lets the walk happen. The default 0.2 was chosen on seeds 21-40
(m = 3; benchmarks/results/preference/issue14-tuning/): it rescued 4 of DTLZ4's 5 stuck
runs (0.1: 3 fully, 1 partly), and cost DTLZ1-3 at most 0.0013 of mean epsilon*.

The default radius is 0.02 for up to three objectives and 0.1 beyond: the front is a manifold
of dimension m - 1, so the same population is spread far thinner over a five-objective front,
and with 0.02 it collapsed onto a wrongly learned point on DTLZ2 (m = 5) while 0.1 slowed
convergence for m = 3 (a check on one seed of the benchmark, not a tuned optimum).
"""

from __future__ import annotations

import numpy as np
from pymoo.core.population import Population
from pymoo.core.survival import Survival
from pymoo.operators.survival.rank_and_crowding import RankAndCrowding
from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from ll4al.preference.model import PreferenceModel
from ll4al.preference.ranges import range_problem


def select_by_score(
    points: np.ndarray, scores: np.ndarray, n_select: int, radius: float
) -> np.ndarray:
    """Indices of ``n_select`` rows of ``points``: best score first, spaced by ``radius``."""
    order = np.argsort(-scores, kind="stable")
    chosen: list[int] = []
    skipped: list[int] = []
    for idx in order:
        if len(chosen) == n_select:
            break
        if chosen and radius > 0:
            gaps = np.linalg.norm(points[chosen] - points[idx], axis=1)
            if gaps.min() < radius:
                skipped.append(int(idx))
                continue
        chosen.append(int(idx))
    chosen.extend(skipped[: n_select - len(chosen)])
    return np.asarray(chosen, dtype=int)


#: The share of a cut front's places kept by crowding distance (see the module docstring).
CROWDING_SHARE = 0.2


def default_niche_radius(n_obj: int) -> float:
    """Niche radius in normalised objective units (see the module docstring)."""
    return 0.02 if n_obj <= 3 else 0.1


class PreferenceSurvival(Survival):
    """NSGA-II ranking; the last front is cut by learned score with a niche radius.

    Until ``model`` is trained (before the first consultation) it is plain NSGA-II rank and
    crowding. Afterwards each individual's ``crowding`` attribute holds its score, so NSGA-II's
    binary tournament (dominance, then larger ``crowding``) also prefers the ROI when mating.
    """

    def __init__(
        self,
        model: PreferenceModel,
        niche_radius: float | None = None,
        keep_extremes: bool = False,
        crowding_share: float = CROWDING_SHARE,
    ) -> None:
        super().__init__(filter_infeasible=True)
        problem = range_problem("crowding_share", crowding_share)
        if problem:
            raise ValueError(f"crowding_share {problem}")
        self.keep_extremes = keep_extremes
        self.crowding_share = crowding_share
        self.model = model
        self.niche_radius = (
            default_niche_radius(model.n_obj) if niche_radius is None else niche_radius
        )
        self.nds = NonDominatedSorting()
        self.fallback = RankAndCrowding()

    def _do(self, problem, pop, *args, random_state=None, n_survive=None, **kwargs) -> Population:
        if not self.model.is_trained:
            return self.fallback._do(
                problem, pop, *args, random_state=random_state, n_survive=n_survive, **kwargs
            )
        F = pop.get("F").astype(float, copy=False)
        scores = self.model.score(F)
        points = self.model.normalizer.transform(F)
        survivors: list[int] = []
        for rank, front in enumerate(self.nds.do(F, n_stop_if_ranked=n_survive)):
            if len(survivors) + len(front) > n_survive:
                forced = np.zeros(0, dtype=int)
                if rank == 0 and self.keep_extremes:
                    forced = np.unique(np.argmax(F[front], axis=0))[:n_survive]
                slots = n_survive - len(survivors) - len(forced)
                rest = np.setdiff1d(np.arange(len(front)), forced)
                crowded = self._most_crowding(F[front], rest, round(self.crowding_share * slots))
                rest = np.setdiff1d(rest, crowded)
                keep = select_by_score(
                    points[front[rest]],
                    scores[front[rest]],
                    slots - len(crowded),
                    self.niche_radius,
                )
                taken = np.concatenate([front[forced], front[crowded], front[rest[keep]]])
            else:
                taken = front
            for i in front:
                pop[i].set("rank", rank)
                pop[i].set("crowding", scores[i])
            survivors.extend(int(i) for i in taken)
            if len(survivors) >= n_survive:
                break
        return pop[survivors]

    @staticmethod
    def _most_crowding(front_F: np.ndarray, among: np.ndarray, n: int) -> np.ndarray:
        """The ``n`` members of ``among`` (indices into the front) of largest crowding
        distance over the whole front, NSGA-II's measure (extremes: infinite)."""
        if n <= 0:
            return np.zeros(0, dtype=int)
        distance = calc_crowding_distance(front_F)[among]
        return among[np.argsort(-distance, kind="stable")[:n]]
