"""The preference wing's own error: bad input to ``ll4al prefer`` or its experiment."""

from __future__ import annotations


class PreferenceError(ValueError):
    """A setting, flag or output folder that ``ll4al prefer`` cannot run with as given."""
