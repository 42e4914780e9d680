"""What 200 live panels cost the kernel's garbage collector: widget models, objects, a collection.

Usage: ``python scripts/panel_objects.py [--rounds N] ROOT [ROOT ...]``. Each ROOT is a
checkout (``julep_nb/`` and ``tests/``); the roots run alternately, each round in a fresh
ipykernel with ``PYTHONPATH=ROOT``. The kernel builds 200 panels over in-memory
executions with Temporal's controls (cancel, terminate, signal, query: the tests'
``Workflows`` source, no network), lets them render, then prints the widget models
they made, the GC-tracked objects, and five ``gc.collect()`` times (wall and CPU).
docs/performance.md ("Many live panels in one kernel") quotes its figures.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from jupyter_client.manager import start_new_kernel

PANELS = 200
CODE = """
import asyncio, gc, json, time
import ipywidgets.widgets.widget as widget_module
import julep_nb
from julep_nb.connect import watch
from julep_nb.display.panel import ExecutionPanel
from tests.display.workflows import Workflows

assert julep_nb.__file__.startswith(ROOT), julep_nb.__file__
gc.collect()
models = len(widget_module._instances)
panels = []
for i in range(PANELS):
    source = Workflows(f"wf-{i}")
    source.begin()
    panels.append(ExecutionPanel(watch(source.execution_id, source=source), refresh_rate=10))
await asyncio.sleep(2)
gc.collect()
wall, cpu = [], []
for _ in range(5):
    t, c = time.perf_counter(), time.process_time()
    gc.collect()
    wall.append(round((time.perf_counter() - t) * 1000))
    cpu.append(round((time.process_time() - c) * 1000))
print(json.dumps({
    "models per panel": (len(widget_module._instances) - models) / PANELS,
    "gc objects": len(gc.get_objects()), "collect wall ms": wall, "collect cpu ms": cpu,
}))
"""


def measure(root: Path) -> str:
    """One fresh kernel on ``root``: its JSON line (or its traceback)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(root), env=env)
    out: list[str] = []

    def hook(msg: dict) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(content["traceback"]))

    try:
        setup = f"ROOT, PANELS = {str(root)!r}, {PANELS}\n"
        client.execute_interactive(setup + CODE, output_hook=hook, timeout=300)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return "".join(out).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.rounds):
        for root in args.roots:
            print(root, measure(root.resolve()), flush=True)


if __name__ == "__main__":
    main()
