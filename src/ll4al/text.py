"""Values quoted in one-line messages: short, whatever a file or a request held."""

from __future__ import annotations

from typing import Any


def show(value: Any, limit: int = 60) -> str:
    """``repr`` of a value for an error message: one line, and short (a 100 KB label from a
    file is quoted by its first characters, not echoed whole)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
