"""The pool: which samples are labeled, with the labels the oracle gave, and its persistence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ll4al.files import read_json, write_json_atomic

Oracle = Callable[[np.ndarray], list[Any]]


class PoolError(ValueError):
    """A request the pool cannot honour (unknown index, labeling twice, a corrupt file)."""


class Pool:
    """Labeled and unlabeled indices of a data set of ``size`` samples.

    Labels are those the oracle gave (a human or a simulation), kept in the order they came,
    so that the pool never needs the data set's own labels: unlabeled data works as well.
    """

    def __init__(self, size: int, labels: dict[int, Any] | None = None) -> None:
        if size <= 0:
            raise PoolError("the pool is empty: a data set of at least one sample is needed")
        self.size = size
        self._labels: dict[int, Any] = {}
        if labels:
            self.add_labels(list(labels), list(labels.values()))

    @property
    def labeled(self) -> np.ndarray:
        """Labeled indices, in the order they were labeled."""
        return np.fromiter(self._labels, dtype=np.int64, count=len(self._labels))

    @property
    def unlabeled_mask(self) -> np.ndarray:
        """``[size]`` booleans, True where a sample is still unlabeled."""
        mask = np.ones(self.size, dtype=bool)
        mask[self.labeled] = False
        return mask

    @property
    def unlabeled(self) -> np.ndarray:
        """Unlabeled indices, ascending."""
        return np.flatnonzero(self.unlabeled_mask)

    def labels_of(self, indices: Sequence[int] | np.ndarray) -> list[Any]:
        try:
            return [self._labels[int(i)] for i in indices]
        except KeyError as err:
            raise PoolError(f"index {err.args[0]} is not labeled") from None

    def add_labels(self, indices: Sequence[int] | np.ndarray, labels: Sequence[Any]) -> None:
        """Record the oracle's labels; every index must be in range and still unlabeled."""
        indices = [int(i) for i in indices]
        if len(indices) != len(labels):
            raise PoolError(f"{len(indices)} indices but {len(labels)} labels")
        if len(set(indices)) != len(indices):
            raise PoolError("the same index appears twice in one labeling request")
        bad = [i for i in indices if not 0 <= i < self.size]
        if bad:
            raise PoolError(f"indices out of range [0, {self.size}): {bad[:5]}")
        again = [i for i in indices if i in self._labels]
        if again:
            raise PoolError(f"indices already labeled: {again[:5]}")
        self._labels.update(zip(indices, labels, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "labeled": [[i, lab] for i, lab in self._labels.items()]}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Pool:
        """The pool ``to_dict`` saved; anything else (an index listed twice, a missing key,
        an index out of range) is a ``PoolError`` saying what is wrong."""
        try:
            if not isinstance(state, dict):
                raise TypeError(f"a mapping is needed, got {type(state).__name__}")
            size, labeled = state["size"], state["labeled"]
            if not isinstance(size, int) or isinstance(size, bool):
                raise TypeError(f"size must be an integer, got {size!r}")
            if not isinstance(labeled, list):
                raise TypeError(f"labeled must be a list, got {type(labeled).__name__}")
            pairs = []
            for pair in labeled:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise TypeError(f"labeled holds {pair!r}, not an [index, label] pair")
                index, label = pair
                if not isinstance(index, int) or isinstance(index, bool):
                    raise TypeError(f"labeled index {index!r} is not an integer")
                pairs.append((index, label))
            indices = [i for i, _ in pairs]
            if len(set(indices)) != len(indices):
                twice = sorted(i for i, n in Counter(indices).items() if n > 1)
                raise ValueError(f"indices listed twice: {twice[:5]}")
            return cls(size, dict(pairs))
        except (KeyError, TypeError, ValueError) as err:
            message = f"missing {err}" if isinstance(err, KeyError) else str(err)
            raise PoolError(f"not a valid pool state: {message}") from err

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Pool:
        try:
            return cls.from_dict(read_json(path))
        except PoolError as err:
            raise PoolError(f"{path}: {err}; it was left as it is") from err


class SimulatedOracle:
    """Reveals the known labels of a benchmark data set, as a human annotator would."""

    def __init__(self, targets: np.ndarray) -> None:
        self.targets = np.asarray(targets)

    def __call__(self, indices: np.ndarray) -> list[Any]:
        return self.targets[np.asarray(indices, dtype=np.int64)].tolist()
