"""Kernel memory for one execution with 100,000 transitions, and the size of what it shows.

Two fresh kernels (``jupyter_client``, run side by side), each running the embedded
local server:

- with a panel: a warm-up execution of 1,000 transitions (imports, first renders),
  then RSS, then one execution of 100,000 transitions committed as fast as the store
  takes them into a live panel, then RSS again once the panel shows the final state;
- the anchor, the local server itself: the same commits with no watcher or panel.

The panel's HTML (the display's final ``text/html`` and the live widget's last value)
is compared with that of the 1,000-transition warm-up: bounded by
``timeline_limit`` (50), it must not grow with the transition count.

    python -m benchmarks --only memory [--quick]
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from benchmarks._util import row
from benchmarks.bench_kernel import BURST, Kernel, run_burst

WARMUP = 1_000


def rss(kernel: Kernel) -> int:
    """The kernel's resident set size after a collection, in bytes."""
    kernel.run("import gc; gc.collect()")
    return int(psutil.Process(kernel.pid).memory_info().rss)


def with_panel(n: int) -> dict[str, Any]:
    kernel = Kernel()
    try:
        small = run_burst(kernel, WARMUP)
        before = rss(kernel)
        big = run_burst(kernel, n)
        after = rss(kernel)
    finally:
        kernel.close()
    if big["updates"][-1][1] != n or "succeeded" not in big["final_html"]:
        raise RuntimeError(f"the panel's last update shows {big['updates'][-1][1]} of {n}")
    return {"growth": after - before, "small": small, "big": big}


def server_alone(n: int) -> int:
    kernel = Kernel()
    try:
        kernel.run(BURST)
        kernel.run(f"_burst(_new(1)[0], {WARMUP})")
        before = rss(kernel)
        kernel.run(f"_burst(_new(1)[0], {n})", timeout=600)
        after = rss(kernel)
    finally:
        kernel.close()
    return after - before


def main(quick: bool) -> list[dict[str, Any]]:
    """Benchmark rows (see the module docstring)."""
    n = 5_000 if quick else 100_000
    # Two kernels side by side: RSS is per process, so neither disturbs the other's figure.
    with ThreadPoolExecutor(2) as pool:
        panel_job, alone_job = pool.submit(with_panel, n), pool.submit(server_alone, n)
        panel, alone = panel_job.result(), alone_job.result()
    mib = 1024 * 1024
    small, big = panel["small"], panel["big"]
    return [
        row(
            f"memory: kernel RSS growth, {n:,} transitions, live panel",
            panel["growth"] / mib,
            "MiB",
            anchor="local server alone (no panel)",
            anchor_value=alone / mib,
            target="≤ 100 MB",
            higher_is_better=False,
        ),
        row(
            f"memory: final panel text/html, {n:,} transitions",
            len(big["final_html"]) / 1024,
            "KiB",
            anchor=f"same, {WARMUP:,} transitions",
            anchor_value=len(small["final_html"]) / 1024,
            target="bounded by timeline_limit",
            higher_is_better=False,
        ),
        row(
            f"memory: live widget HTML, {n:,} transitions",
            len(big["live_html"]) / 1024,
            "KiB",
            anchor=f"same, {WARMUP:,} transitions",
            anchor_value=len(small["live_html"]) / 1024,
            target="bounded by timeline_limit",
            higher_is_better=False,
        ),
    ]


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table(main("--quick" in sys.argv))
