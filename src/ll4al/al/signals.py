"""Label-free stop signals: what a round's model says about a fixed stop set of the pool.

Why: a project without a labeled evaluation set cannot forecast its metric, but it can watch
its models settle. Each round's freshly trained model scores the stop set (``ll4al.al.seeds
.stop_set``) in one inference pass, no training: its class predictions (compared with the
previous round's by Cohen's kappa: stabilizing predictions, Bloodgood & Vijay-Shanker 2009),
its mean uncertainty (the task's score, the entropy for classification) and, with an LPM, its
mean predicted loss (both fall as the model learns what the pool holds).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ll4al.al.forecast import cohen_kappa
from ll4al.models.learner import Learner, PoolData


def round_signals(
    learner: Learner,
    data: PoolData,
    indices: np.ndarray,
    previous: list[int] | None,
) -> tuple[dict[str, Any], list[int] | None]:
    """The round's signals on ``data[indices]`` and its predictions (None for a task
    without class probabilities: no agreement then). ``previous``: the last round's
    predictions on the same samples, or None."""
    started = time.perf_counter()
    task = learner.task
    want = [
        name
        for name, has in (
            ("probs", task.has_probabilities),
            ("uncertainty", task.has_uncertainty),
            ("predicted_loss", learner.has_loss_prediction),
        )
        if has
    ]
    scored = learner.infer(data, indices, want) if want else {}
    predictions = None
    agreement = None
    if "probs" in scored:
        predictions = scored["probs"].argmax(dim=1).tolist()
        if previous is not None and len(previous) == len(predictions):
            agreement = cohen_kappa(previous, predictions)
    signals = {
        "stop_set": len(indices),
        "stop_agreement": agreement,
        "stop_uncertainty": (
            float(scored["uncertainty"].double().mean()) if "uncertainty" in scored else None
        ),
        "stop_predicted_loss": (
            float(scored["predicted_loss"].double().mean()) if "predicted_loss" in scored else None
        ),
        "stop_seconds": round(time.perf_counter() - started, 3),
    }
    return signals, predictions
