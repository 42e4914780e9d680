"""The benchmark harness still runs: its cheapest module, quick, through ``python -m``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_harness_runs_the_startup_module(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "startup", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "import julep_nb" in done.stdout  # the table was printed
    rows = json.loads(out.read_text())["rows"]
    names = {r["name"] for r in rows}
    assert any("import julep_nb" in n for n in names) and any("load_ext" in n for n in names)
    for r in rows:  # every figure has its anchor measured beside it
        assert r["value"] > 0 and r["anchor_value"] > 0 and r["ratio"] > 0, r

    saved = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--from", str(out), "--markdown"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = saved.stdout.splitlines()
    assert saved.returncode == 0 and lines[0].startswith("| name | value |"), saved.stderr
    assert len(lines) == 2 + len(rows)  # a saved run prints again, nothing re-measured
