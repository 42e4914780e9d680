"""Start-up cost: ``import julep_nb`` and ``%load_ext julep_nb``, each in a fresh process.

Best of N fresh interpreters (the page cache is warm after the first), timed inside
the child with ``perf_counter`` so interpreter start-up is not counted:

- ``import julep_nb``; anchor: ``import httpx`` (which julep_nb's client needs anyway);
- ``%load_ext julep_nb`` in an ``InteractiveShell`` that already runs; anchor: starting
  that bare IPython shell (``import IPython`` + ``InteractiveShell.instance()``).

    python -m benchmarks --only startup [--quick]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks._util import row

ROOT = Path(__file__).resolve().parents[1]

IMPORT = """
import time
began = time.perf_counter()
import {module}
print(time.perf_counter() - began)
"""

LOAD_EXT = """
import time
began = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
started = time.perf_counter()
shell.run_line_magic("load_ext", "julep_nb")
assert "julep_exec" in shell.magics_manager.magics["cell"], "the extension did not load"
print(started - began, time.perf_counter() - started)
"""


def child(code: str) -> list[float]:
    """Run ``code`` in a fresh interpreter; the seconds it printed."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"the timing child failed: {done.stderr.strip()[-500:]}")
    return [float(x) for x in done.stdout.split()]


def ms(code: str) -> list[float]:
    """The figures ``code`` printed, in milliseconds."""
    return [seconds * 1000 for seconds in child(code)]


def main(quick: bool) -> list[dict[str, Any]]:
    """Benchmark rows (see the module docstring)."""
    rounds = 3 if quick else 10
    ours: list[float] = []
    httpx_: list[float] = []
    shell_: list[float] = []
    load: list[float] = []
    for _ in range(rounds):  # interleaved, so a noisy moment hits both sides
        ours += ms(IMPORT.format(module="julep_nb"))
        httpx_ += ms(IMPORT.format(module="httpx"))
        bare, loaded = ms(LOAD_EXT)
        shell_.append(bare)
        load.append(loaded)
    return [
        row(
            "startup: import julep_nb (best of N)",
            min(ours),
            "ms",
            anchor="import httpx",
            anchor_value=min(httpx_),
            target="≤ 150 ms",
            higher_is_better=False,
        ),
        row(
            "startup: %load_ext julep_nb (best of N)",
            min(load),
            "ms",
            anchor="bare IPython shell start",
            anchor_value=min(shell_),
            target="≤ 300 ms",
            higher_is_better=False,
        ),
    ]


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table(main("--quick" in sys.argv))
