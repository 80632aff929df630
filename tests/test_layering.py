"""The packages under ``ll4al`` import each other in one direction only (no loops)."""

from __future__ import annotations

import ast
from pathlib import Path

import ll4al

PACKAGES = (
    "tasks",
    "data",
    "models",
    "strategies",
    "al",
    "encoders",
    "experiments",
    "project",
    "preference",
)


def package_imports() -> dict[str, set[str]]:
    """``{package: the other ll4al packages its modules import}``, read from the source."""
    root = Path(ll4al.__file__).parent
    found: dict[str, set[str]] = {name: set() for name in PACKAGES}
    for name in PACKAGES:
        for path in (root / name).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                modules = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                for module in modules:
                    parts = module.split(".")
                    if parts[0] == "ll4al" and len(parts) > 1 and parts[1] in PACKAGES:
                        found[name].add(parts[1])
            found[name].discard(name)
    return found


def test_packages_import_each_other_without_loops():
    imports = package_imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in imports[start]
        )

    loops = [name for name in PACKAGES if reaches(name, name, set())]
    assert loops == [], {name: sorted(imports[name]) for name in loops}
