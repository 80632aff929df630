"""The preference settings that must lie in a range, checked by ``PreferenceConfig`` and,
naming the flag, by ``ll4al prefer`` before anything runs; a leaf, so the command line
reads it without importing pymoo."""

from __future__ import annotations

#: Settings that must lie in a range: (least, most, whether the least itself is allowed).
#: The one table behind both the config's check and ``ll4al prefer``'s flag messages.
RANGES: dict[str, tuple[float, float, bool]] = {
    "noise_flip": (0, 0.5, True),
    "nadir_quantile": (0, 1, False),
    "min_span": (0, 1, True),
    "crowding_share": (0, 1, True),
}


def range_problem(name: str, value: float | None) -> str | None:
    """Why ``value`` is outside setting ``name``'s range (``"must lie in [0, 0.5], got
    0.7"``), or None where it is inside or unset."""
    least, most, closed = RANGES[name]
    if value is None or ((least <= value if closed else least < value) and value <= most):
        return None
    return f"must lie in {'[' if closed else '('}{least}, {most}], got {value}"
