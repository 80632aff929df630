"""Decision makers that answer "which of these two solutions do you prefer?".

:class:`ChebyshevDM` simulates a DM with a hidden weighted Chebyshev value (the standard
benchmark DM of interactive EMO); :class:`HumanDM` asks a person at the terminal and keeps her
answers in a JSON file, so a stopped session resumes without asking the same pair again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np

from ll4al.files import read_json, write_json_atomic


class DecisionMaker(Protocol):
    """Anything that can compare two objective vectors (all objectives minimised)."""

    def prefers_first(self, a: np.ndarray, b: np.ndarray) -> bool:
        """True if the DM prefers ``a`` over ``b``."""
        ...


class ChebyshevDM:
    """Simulated DM with hidden value ``v(f) = max_i w_i * |f_i - z_i|`` (lower is better).

    Two kinds of noise, usable together. With ``kappa`` set, an answer is flipped with
    probability ``exp(-kappa * |v(a) - v(b)|)``: a DM confuses near-equal solutions, not
    clearly different ones. With ``flip`` set, every answer is flipped with that probability
    whatever the two values: slips, or a DM whose preference is not quite a Chebyshev one.
    """

    def __init__(
        self,
        weights: Sequence[float],
        ideal: Sequence[float] | None = None,
        kappa: float | None = None,
        seed: int = 0,
        flip: float | None = None,
    ) -> None:
        self.weights = np.asarray(weights, dtype=float)
        if self.weights.ndim != 1 or np.any(self.weights <= 0):
            raise ValueError("weights must be a vector of positive numbers")
        self.ideal = np.zeros_like(self.weights) if ideal is None else np.asarray(ideal, float)
        if self.ideal.shape != self.weights.shape:
            raise ValueError("ideal point and weights must have the same length")
        if kappa is not None and kappa <= 0:
            raise ValueError("kappa must be positive (or None for a noiseless DM)")
        if flip is not None and not 0.0 <= flip <= 0.5:
            raise ValueError("flip must lie in [0, 0.5] (beyond 0.5 the DM is an adversary)")
        self.kappa = kappa
        self.flip = flip
        self.n_flipped = 0
        self.rng = np.random.default_rng(seed)
        self.n_queries = 0

    def value(self, F: np.ndarray) -> np.ndarray:
        """Hidden value of each row of ``F`` (or of a single vector); lower is better."""
        return np.max(self.weights * np.abs(np.asarray(F, dtype=float) - self.ideal), axis=-1)

    def prefers_first(self, a: np.ndarray, b: np.ndarray) -> bool:
        self.n_queries += 1
        v_a, v_b = float(self.value(a)), float(self.value(b))
        answer = v_a <= v_b
        flipped = False
        if self.kappa is not None and self.rng.random() < np.exp(-self.kappa * abs(v_a - v_b)):
            flipped = not flipped
        if self.flip is not None and self.rng.random() < self.flip:
            flipped = not flipped
        self.n_flipped += flipped
        return answer != flipped

    def golden_point(self, problem: object, n_points: int = 20000) -> np.ndarray:
        """The Pareto-front point minimising the hidden value: the target of the search.

        DTLZ1-4 fronts are the simplex ``sum f = 0.5`` or the unit sphere, and with the ideal
        point below the front the Chebyshev optimum is where the ray ``z + t / w`` meets the
        front (all ``w_i * (f_i - z_i)`` equal), so it is exact there. Other problems use the
        minimum over ``problem.pareto_front()`` sampled with ``n_points`` points.
        """
        name = type(problem).__name__
        direction = 1.0 / self.weights
        if name == "DTLZ1":
            t = (0.5 - self.ideal.sum()) / direction.sum()
            return self.ideal + t * direction
        if name in ("DTLZ2", "DTLZ3", "DTLZ4"):
            # |z + t d| = 1 -> t^2 |d|^2 + 2 t (z.d) + |z|^2 - 1 = 0, positive root
            qa, qb = direction @ direction, 2 * self.ideal @ direction
            qc = self.ideal @ self.ideal - 1.0
            t = (-qb + np.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa)
            return self.ideal + t * direction
        front = problem.pareto_front(n_points)  # positional: pymoo's problems name it apart
        return front[int(np.argmin(self.value(front)))]


def default_weights(n_obj: int) -> np.ndarray:
    """``w_i`` proportional to ``1 / i``: the golden point is proportional to ``(1, 2, .., m)``.

    An off-centre region of interest, so a method that merely finds the middle of the front
    does not look good by accident.
    """
    w = 1.0 / np.arange(1, n_obj + 1)
    return w / w.sum()


class DMStopped(Exception):
    """The human DM asked to stop; her answers so far are saved and the run can resume."""


class HumanDM:
    """A person at the terminal: shows both objective vectors, reads ``1`` or ``2``.

    ``q`` stops the session (raises :class:`DMStopped`). Every answer is appended to
    ``answers_path`` at once; a pair answered in an earlier session is answered from the file.
    A rerun with the same seed proposes the same pairs, so it replays to where she stopped.
    """

    def __init__(
        self,
        answers_path: str | Path,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        self.answers_path = Path(answers_path)
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.names = list(names) if names is not None else None
        self.records: list[dict] = read_json(answers_path) if self.answers_path.exists() else []
        self.answers = {self._key(r["a"], r["b"]): r["preferred"] == 1 for r in self.records}
        self.n_asked = 0

    @staticmethod
    def _key(a: Sequence[float], b: Sequence[float]) -> str:
        return json.dumps([[float(x) for x in a], [float(x) for x in b]])

    def _show(self, label: str, f: np.ndarray) -> str:
        names = self.names or [f"f{i + 1}" for i in range(len(f))]
        return f"  [{label}] " + "  ".join(f"{n}={x:.4f}" for n, x in zip(names, f, strict=True))

    def prefers_first(self, a: np.ndarray, b: np.ndarray) -> bool:
        key = self._key(a, b)
        if key in self.answers:
            return self.answers[key]
        print("\nWhich solution do you prefer? (all objectives: lower is better)", file=self.stdout)
        print(self._show("1", a), file=self.stdout)
        print(self._show("2", b), file=self.stdout)
        while True:
            print("Answer 1 or 2 (q to stop and resume later): ", end="", file=self.stdout)
            self.stdout.flush()
            line = self.stdin.readline()
            if line == "":
                raise DMStopped("input closed")
            reply = line.strip().lower()
            if reply in ("1", "2"):
                break
            if reply in ("q", "quit", "stop"):
                raise DMStopped("stopped by the decision maker")
            print(f"  invalid answer {reply!r}", file=self.stdout)
        self.n_asked += 1
        self.answers[key] = reply == "1"
        self._save(a, b, reply == "1")
        return reply == "1"

    def _save(self, a: np.ndarray, b: np.ndarray, a_preferred: bool) -> None:
        self.records.append(
            {
                "a": [float(x) for x in a],
                "b": [float(x) for x in b],
                "preferred": 1 if a_preferred else 2,
            }
        )
        write_json_atomic(self.answers_path, self.records)
