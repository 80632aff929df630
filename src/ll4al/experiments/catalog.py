"""What a config can name: the registered data sets, models and strategies, in plain words.

Why: a user should not learn the valid names from error messages or from the source.
"""

from __future__ import annotations

import inspect
import re

from ll4al.data.registry import DATA_SETS
from ll4al.models.networks import MODELS
from ll4al.strategies import STRATEGIES


def _first_sentence(obj: object) -> str:
    doc = " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())
    match = re.match(r"(.+?\.)(\s|$)", doc)
    return match.group(1) if match else doc


def _reads(strategy: type) -> str:
    needs = [
        name
        for flag, name in (
            ("needs_loss_prediction", "the LPM"),
            ("needs_probabilities", "class probabilities"),
            ("needs_uncertainty", "an uncertainty score"),
        )
        if getattr(strategy, flag)
    ]
    return f" Reads {', '.join(needs)}." if needs else ""


def catalog() -> str:
    """Every registered name a config can use, one line each."""
    lines = ["data sets (data.name):"]
    for name, data in sorted(DATA_SETS.items()):
        lines.append(f"  {name:<16} {type(data.task()).__name__}")
    lines.append("models (model.name; LPM layers, embedding layer):")
    for name, spec in sorted(MODELS.items()):
        lines.append(f"  {name:<16} {', '.join(spec.lpm_layers)}; {spec.embedding_layer}")
    lines.append("strategies (strategies: [...]; what each reads):")
    for name, cls in STRATEGIES.items():
        lines.append(f"  {name:<22} {_first_sentence(cls)}{_reads(cls)}")
    return "\n".join(lines)
