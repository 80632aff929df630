"""The grid21 result scripts: the README's rows are what table.py prints, and plot.py draws.

Why: the README's tables are typed from table.py's output; a results folder or a README edited
without the other would make the claimed figures disagree with the committed runs.
"""

import subprocess
import sys
from pathlib import Path

GRID = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "preference" / "grid21"


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(GRID / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_every_complete_row_is_in_the_readme_verbatim():
    readme = (GRID / "README.md").read_text()
    rows = [line for line in run("table.py", "5", "8", "10").splitlines() if "**" in line]
    assert len(rows) >= 8  # m = 5 and 8 are complete and committed
    missing = [row for row in rows if row not in readme]
    assert not missing, f"rows printed by table.py but not in grid21/README.md: {missing}"


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "eps.png"
    run("plot.py", str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
