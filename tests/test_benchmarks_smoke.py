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


def test_the_servers_anchors_answer_the_minimal_client(tmp_path: Path) -> None:
    # The server's figure and its HTTP floor are taken with the same client, each in a
    # process of its own: both must finish a (short) run and report CPU.
    from benchmarks.bench_local_server import (
        floor_process,
        serve_process,
        served_executions_per_second,
    )

    with floor_process() as (port, process):
        floor_rate, floor_cpu = served_executions_per_second(port, process, 400, "row")
    with serve_process(tmp_path / "serve.db") as (port, process):
        rate, cpu = served_executions_per_second(port, process, 400, "row")
    assert floor_rate > rate > 0 and 0 < floor_cpu < cpu
