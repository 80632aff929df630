"""I-NSGA-II/LTR: NSGA-II whose search is steered by a RankNet learned from a DM's pair answers.

The loop of Li, Lai & Yao (2023): run plain NSGA-II for ``tau`` generations; then, every ``tau``
generations while queries remain, show the DM ``mu`` pairs of current solutions, retrain the
preference model on every pair so far, and let it lead the next ``tau`` generations (see
:mod:`ll4al.preference.survival`). Consulting stops when the query budget is used or when the
best-scored solution stops moving; evolution continues with the last model until the
generation budget is spent, so every algorithm gets the same number of evaluations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import Problem
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from ll4al.preference.decision_maker import DecisionMaker
from ll4al.preference.errors import PreferenceError
from ll4al.preference.model import MIN_SPAN, NADIR_QUANTILE, PreferenceLoss, PreferenceModel
from ll4al.preference.survival import CROWDING_SHARE, PreferenceSurvival


@dataclass
class LTRResult:
    """Final population and bookkeeping of one I-NSGA-II/LTR run."""

    F: np.ndarray
    X: np.ndarray
    n_evals: int
    dm_queries: int
    consultations: int
    model: PreferenceModel


PairRule = Literal["random", "uncertain"]
PAIR_RULES: tuple[str, ...] = ("random", "uncertain")


def _candidates(F: np.ndarray) -> np.ndarray:
    """Distinct non-dominated rows of ``F`` (the DM has no use for dominated ones), or all
    distinct rows if fewer than two are non-dominated."""
    _, unique = np.unique(F, axis=0, return_index=True)
    unique = np.sort(unique)
    front = unique[NonDominatedSorting().do(F[unique], only_non_dominated_front=True)]
    return front if len(front) >= 2 else unique


def choose_pairs(
    F: np.ndarray,
    mu: int,
    rng: np.random.Generator,
    model: PreferenceModel | None = None,
    rule: PairRule = "random",
) -> list[tuple[int, int]]:
    """``mu`` index pairs of distinct non-dominated rows of ``F`` to show the DM.

    Before a model exists the pairs are random, whatever the rule. Afterwards:

    - ``"random"``: half of the pairs put one of the top quarter by current score against a
      random candidate, which sharpens the model where it matters (around the ROI), and the
      other half stay random so that a wrong early model can still be corrected elsewhere.
    - ``"uncertain"``: the pairs among the top quarter (at least ``mu`` solutions) whose
      predicted preference probability ``sigmoid(s_i - s_j)`` is nearest 0.5 (smallest score
      gap), each solution in at most two pairs while that still gives ``mu`` pairs. Why: an
      answer the model could already predict teaches it nothing, and only the order among the
      top solutions decides where the population goes; the cap spreads the questions over
      the top instead of spending them all on one near-tie.
    """
    if rule not in PAIR_RULES:
        raise PreferenceError(f"pair rule must be one of {list(PAIR_RULES)}, got {rule!r}")
    candidates = _candidates(F)
    if len(candidates) < 2:
        return []
    top = candidates
    if model is not None and model.is_trained:
        scores = np.zeros(len(F))
        scores[candidates] = model.score(F[candidates])
        ranked = candidates[np.argsort(-scores[candidates], kind="stable")]
        if rule == "uncertain":
            n_top = min(len(candidates), max(2, mu, len(candidates) // 4))
            return _least_certain_pairs(ranked[:n_top], scores, mu)
        top = ranked[: max(2, len(candidates) // 4)]
    pairs: list[tuple[int, int]] = []
    shown: set[frozenset[int]] = set()
    for _ in range(20 * mu):  # a pair is never asked twice; few candidates may give fewer
        if len(pairs) == mu:
            break
        first = int(rng.choice(top if len(pairs) < mu // 2 else candidates))
        second = int(rng.choice(candidates[candidates != first]))
        if frozenset((first, second)) not in shown:
            shown.add(frozenset((first, second)))
            pairs.append((first, second))
    return pairs


def _least_certain_pairs(top: np.ndarray, scores: np.ndarray, mu: int) -> list[tuple[int, int]]:
    """Up to ``mu`` pairs of ``top`` with the smallest score gap, each index at most twice
    (the closest remaining pairs fill up if the cap leaves fewer than ``mu``)."""
    i, j = np.triu_indices(len(top), k=1)
    ranked = np.argsort(np.abs(scores[top[i]] - scores[top[j]]), kind="stable")
    pairs: list[tuple[int, int]] = []
    used: dict[int, int] = {}
    for k in ranked:
        a, b = int(top[i[k]]), int(top[j[k]])
        if used.get(a, 0) < 2 and used.get(b, 0) < 2:
            pairs.append((a, b))
            used[a] = used.get(a, 0) + 1
            used[b] = used.get(b, 0) + 1
    pairs = pairs[:mu]
    asked = set(pairs)
    for k in ranked:
        if len(pairs) >= mu:
            break
        pair = (int(top[i[k]]), int(top[j[k]]))
        if pair not in asked:
            asked.add(pair)
            pairs.append(pair)
    return pairs


def consult(
    F: np.ndarray,
    dm: DecisionMaker,
    model: PreferenceModel,
    mu: int,
    rng: np.random.Generator,
    ideal: np.ndarray | None = None,
    rule: PairRule = "random",
) -> int:
    """One consultation: ask ``mu`` pairs, add the answers, retrain. Returns queries asked."""
    pairs = choose_pairs(F, mu, rng, model, rule)
    for i, j in pairs:
        model.add_pair(F[i], F[j], dm.prefers_first(F[i], F[j]))
    if pairs:
        model.fit(context=F, ideal=ideal)
    return len(pairs)


@contextmanager
def _single_torch_thread() -> Iterator[None]:
    """The RankNet is so small that intra-op threads only add overhead; on a busy machine
    they slow each training step by orders of magnitude."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_ltr_nsga2(
    problem: Problem,
    dm: DecisionMaker,
    pop_size: int,
    n_gen: int,
    tau: int = 10,
    mu: int = 10,
    max_queries: int | None = None,
    seed: int = 0,
    loss: PreferenceLoss = "logistic",
    niche_radius: float | None = None,
    convergence_tol: float | None = None,
    epochs: int = 200,
    nadir_quantile: float = NADIR_QUANTILE,
    min_span: float = MIN_SPAN,
    pair_rule: PairRule = "random",
    keep_extremes: bool = False,
    crowding_share: float = CROWDING_SHARE,
) -> LTRResult:
    """Run I-NSGA-II/LTR for ``n_gen`` generations (``pop_size * n_gen`` evaluations).

    The DM is consulted after generations ``tau, 2 tau, ...`` (never after the last one) while
    fewer than ``max_queries`` pairs have been asked (``None``: no cap). With
    ``convergence_tol`` set, consulting also stops once the best-scored solution moves less
    than that (normalised objective space) between two consultations. ``niche_radius``
    None: :func:`~ll4al.preference.survival.default_niche_radius`.

    Torch runs single-threaded meanwhile (see ``_single_torch_thread``).
    """
    model = PreferenceModel(
        n_obj=problem.n_obj,
        loss=loss,
        epochs=epochs,
        seed=seed,
        nadir_quantile=nadir_quantile,
        min_span=min_span,
    )
    algorithm = NSGA2(
        pop_size=pop_size,
        survival=PreferenceSurvival(
            model,
            niche_radius=niche_radius,
            keep_extremes=keep_extremes,
            crowding_share=crowding_share,
        ),
    )
    algorithm.setup(problem, termination=("n_gen", n_gen), seed=seed, verbose=False)
    rng = np.random.default_rng(seed)
    queries = consultations = 0
    previous_best: np.ndarray | None = None
    consulting = True
    ideal = np.full(problem.n_obj, np.inf)
    with _single_torch_thread():
        while algorithm.has_next():
            algorithm.next()
            ideal = np.minimum(ideal, algorithm.pop.get("F").min(axis=0))
            gen = algorithm.n_gen - 1  # pymoo's n_gen is the generation about to run
            if not consulting or gen % tau != 0 or gen >= n_gen:
                continue
            if max_queries is not None and queries + mu > max_queries:
                consulting = False
                continue
            F = algorithm.pop.get("F")
            queries += consult(F, dm, model, mu, rng, ideal, pair_rule)
            consultations += 1
            if not model.is_trained:
                continue
            scores = model.score(F)
            algorithm.pop.set("crowding", scores)
            best = F[int(np.argmax(scores))]
            if convergence_tol is not None and previous_best is not None:
                moved = model.normalizer.transform(np.vstack([best, previous_best]))
                if np.linalg.norm(moved[0] - moved[1]) < convergence_tol:
                    consulting = False
            previous_best = best
    return LTRResult(
        F=algorithm.pop.get("F"),
        X=algorithm.pop.get("X"),
        n_evals=int(algorithm.evaluator.n_eval),
        dm_queries=queries,
        consultations=consultations,
        model=model,
    )
