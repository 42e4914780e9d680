"""Panels in a real ipykernel, driven through ``jupyter_client`` as a frontend would.

One kernel (started with ``KernelManager``) runs the embedded local server, as a
notebook without a Julep account does; a thread in the kernel commits transitions
straight into the server's store and notes when each COMMIT returned
(``time.monotonic``: CLOCK_MONOTONIC, comparable across processes on Linux). This
process reads iopub and notes when each widget ``comm_msg`` arrived.

- commit → widget-trait update on iopub, p50/p99: one panel, commits spaced
  120–200 ms apart (longer than the 100 ms refresh period, so coalescing does not
  add its own wait); anchor: the same commits seen by a 1 s polling loop in the kernel;
- kernel responsiveness: round trip of a trivial ``execute_request`` while 200 live
  panels update (each gets a transition a second), p99; anchor: the same with no panels;
- a burst of 10,000 transitions into one panel: panel updates per second and widget
  messages per second (every widget of the panel counted), against the rate at which
  transitions arrived, and that the final state (count and status) is what the panel
  shows last.

    python -m benchmarks --only kernel [--quick]
"""

from __future__ import annotations

import json
import queue
import random
import re
import sys
import time
from typing import Any

from benchmarks._util import percentile, row

COUNT = re.compile(r"Transitions <b>([\d,]+)</b>")
REFRESH_RATE = 10.0

SETUP = """
import json, os, tempfile, threading, time
import httpx, julep_nb
from julep_nb.sources.julep.models import TransitionTarget, TransitionType
from julep_nb.display.panel import show
from julep_nb.local import start as _start
_srv = _start(port=0, db=os.path.join(tempfile.mkdtemp(), "bench.db"))
_store = _srv.store
_client = julep_nb.Client(base_url=_srv.base_url)
_task = _store.create_task(_store.create_agent({"name": "b"}).id,
                           {"name": "b", "main": [{"evaluate": {"x": "$ 1"}}]})
_here = TransitionTarget(workflow="main", step=0)

def _commit(eid, kind, output=None):
    final = kind in ("finish", "error", "cancelled")
    _store.append_transition(eid, type=TransitionType(kind), output=output,
                             current=_here, next=None if final else _here)
    return time.monotonic()

def _new(n):
    return [_store.create_execution(_task.id, {})[0].id for _ in range(n)]

def _panel(eid):
    p = show(julep_nb.watch(eid, client=_client), refresh_rate=REFRESH)
    return p, [w.model_id for w in p.widgets()]

def _in_thread(fn, *args):
    out = {}
    def run():
        out["result"] = fn(*args)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return out
"""


class Kernel:
    """A kernel and a blocking client; ``run`` executes code and returns its stdout."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3", startup_timeout=60)
        self.run(SETUP.replace("REFRESH", repr(REFRESH_RATE)))
        self.pid = int(self.run("print(os.getpid())"))

    def run(self, code: str, timeout: float = 120) -> str:
        """Execute ``code``; its printed text (iopub read up to idle, others dropped)."""
        msg_id = self.client.execute(code)
        out = []
        for msg in self.iopub(timeout):
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                raise RuntimeError(f"kernel error: {content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                break
        self.reply(msg_id, timeout)
        return "".join(out).strip()

    def reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        while True:
            reply = self.client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def iopub(self, timeout: float) -> Any:
        """iopub messages with ``_at`` (arrival, monotonic), until ``timeout`` s of silence."""
        while True:
            msg = self.client.get_iopub_msg(timeout=timeout)
            msg["_at"] = time.monotonic()
            yield msg

    def drain(self) -> list[dict[str, Any]]:
        """iopub messages already waiting, without blocking."""
        out: list[dict[str, Any]] = []
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=0)
            except queue.Empty:
                return out
            msg["_at"] = time.monotonic()
            out.append(msg)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def live_count(msg: dict[str, Any], live_id: str) -> int | None:
    """The transition count a live-widget update shows, or None for other messages."""
    if msg["msg_type"] != "comm_msg" or msg["content"].get("comm_id") != live_id:
        return None
    value = msg["content"]["data"].get("state", {}).get("value", "")
    found = COUNT.search(value)
    return int(found.group(1).replace(",", "")) if found else None


def open_panel(kernel: Kernel, execution_id: str) -> list[str]:
    """Display a panel; the model ids of its widgets (the live HTML first, then the rest)."""
    out = kernel.run(
        f"_p, _ids = _panel({execution_id!r})\nprint(json.dumps([_p.live.model_id, *_ids]))"
    )
    live, *rest = json.loads(out)
    return [live, *(w for w in rest if w != live)]


# ---------------------------------------------------------------------- latency


POLLER = """
def _poll(eid, total):
    import asyncio
    seen = {}
    async def loop():
        while len(seen) < total:
            await asyncio.sleep(1.0)
            e = await _client.get_execution(eid)
            now = time.monotonic()
            for i in range(len(seen) + 1, (e.transition_count or 0) + 1):
                seen[i] = now
    return loop(), seen
_pl, _polled = _poll(_eid, TOTAL)
_poll_task = asyncio.get_running_loop().create_task(_pl)
"""

COMMITS = """
def _commits(eid, steps, lo, hi):
    import random
    times = []
    for kind in ["init"] + ["step"] * steps + ["finish"]:
        time.sleep(random.uniform(lo, hi))
        times.append(_commit(eid, kind, {"n": len(times)}))
    return times
"""


def latency(kernel: Kernel, quick: bool) -> list[dict[str, Any]]:
    """Commit → live-widget comm_msg on iopub, beside a 1 s polling loop in the kernel."""
    steps = 8 if quick else 200
    total = steps + 2
    kernel.run(f"(_eid,) = _new(1)\nimport asyncio\n{POLLER.replace('TOTAL', str(total))}")
    live = open_panel(kernel, kernel.run("print(_eid)"))[0]
    time.sleep(0.5)  # the watcher's stream is open before the first commit
    kernel.run(f"{COMMITS}\n_job = _in_thread(_commits, _eid, {steps}, 0.12, 0.2)")
    arrived: dict[int, float] = {}
    for msg in kernel.iopub(30):
        count = live_count(msg, live)
        if count is not None:
            for i in range(len(arrived) + 1, count + 1):
                arrived[i] = msg["_at"]
            if count >= total:
                break
    committed = json.loads(
        kernel.run(
            "while 'result' not in _job: time.sleep(0.05)\nprint(json.dumps(_job['result']))"
        )
    )
    kernel.run("await asyncio.wait_for(_poll_task, 10)")
    polled = json.loads(kernel.run("print(json.dumps(_polled))"))
    ours = [(arrived[i + 1] - t) * 1000 for i, t in enumerate(committed) if i + 1 in arrived]
    theirs = [(polled[str(i + 1)] - t) * 1000 for i, t in enumerate(committed)]
    if len(ours) != total:
        raise RuntimeError(f"the panel showed {len(ours)} of {total} transitions")
    return [
        row(
            f"kernel: commit→widget comm_msg p{q}",
            percentile(ours, q),
            "ms",
            anchor="polling every 1 s (in the kernel)",
            anchor_value=percentile(theirs, q),
            target="p99 ≤ 50 ms" if q == 99 else "",
            higher_is_better=False,
        )
        for q in (50, 99)
    ]


# ---------------------------------------------------------------------- responsiveness


def round_trips(kernel: Kernel, seconds: float) -> tuple[list[float], int]:
    """RTTs (ms) of ``pass`` cells sent for ``seconds``; and comm_msgs seen meanwhile."""
    samples: list[float] = []
    comm = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(random.uniform(0.02, 0.06))
        comm += sum(m["msg_type"] == "comm_msg" for m in kernel.drain())
        began = time.monotonic()
        msg_id = kernel.client.execute("pass", store_history=False)
        kernel.reply(msg_id, 30)
        samples.append((time.monotonic() - began) * 1000)
    comm += sum(m["msg_type"] == "comm_msg" for m in kernel.drain())
    return samples, comm


ROUNDS = """
_stop_rounds = threading.Event()
def _rounds(ids):
    n = 0
    while not _stop_rounds.is_set():
        for eid in ids:
            _commit(eid, "step", {"n": n})
            time.sleep(1.0 / len(ids))
        n += 1
    for eid in ids:
        _commit(eid, "finish")
"""


def responsiveness(kernel: Kernel, quick: bool) -> list[dict[str, Any]]:
    """``pass`` round trips with no panels, then with 200 panels updating."""
    n, seconds = (100, 1.5) if quick else (200, 15.0)
    idle, _ = round_trips(kernel, seconds)
    kernel.run(
        f"_many = _new({n})\nfor _e in _many: _commit(_e, 'init')\n"
        "_panels = [_panel(e)[0] for e in _many]"
    )
    kernel.run(
        "_t0 = time.monotonic()\n"
        "while any(p.handle.watcher.strategy is None for p in _panels):\n"
        "    assert time.monotonic() - _t0 < 120, 'watchers did not connect'\n"
        "    await asyncio.sleep(0.1)",
        timeout=180,
    )
    kernel.drain()
    kernel.run(f"{ROUNDS}\n_job = _in_thread(_rounds, _many)")
    busy, comm = round_trips(kernel, seconds)
    kernel.run("_stop_rounds.set()\nwhile 'result' not in _job: await asyncio.sleep(0.05)")
    kernel.run(
        "await asyncio.wait_for(asyncio.gather(*(p.handle.watcher.wait() for p in _panels)), 60)"
    )
    kernel.drain()
    if comm == 0:
        raise RuntimeError("the 200 panels sent no widget messages while measured")
    return [
        row(
            f"kernel: execute_request RTT p{q}, {n} panels updating",
            percentile(busy, q),
            "ms",
            anchor="same kernel, no panels",
            anchor_value=percentile(idle, q),
            target="p99 ≤ 100 ms" if q == 99 else "",
            higher_is_better=False,
        )
        for q in (50, 99)
    ]


# ---------------------------------------------------------------------- burst

BURST = """
def _burst(eid, n):
    first = time.monotonic()
    _commit(eid, "init")
    for i in range(n - 2):
        _commit(eid, "step", {"i": i})
    last = _commit(eid, "finish")
    return [first, last]
"""


def run_burst(kernel: Kernel, n: int) -> dict[str, Any]:
    """Commit ``n`` transitions as fast as they go into one new panel; what iopub showed."""
    (execution_id,) = json.loads(kernel.run("print(json.dumps(_new(1)))"))
    ids = open_panel(kernel, execution_id)
    live = ids[0]
    time.sleep(0.5)
    kernel.drain()
    kernel.run(f"{BURST}\n_job = _in_thread(_burst, {execution_id!r}, {n})")
    updates: list[tuple[float, int]] = []
    messages: list[float] = []  # arrival times of the panel's widget messages
    shown = ""
    for msg in kernel.iopub(60):
        if msg["msg_type"] == "comm_msg" and msg["content"].get("comm_id") in ids:
            messages.append(msg["_at"])
            if msg["content"].get("comm_id") == live:
                shown = msg["content"]["data"].get("state", {}).get("value", shown)
        count = live_count(msg, live)
        if count is not None:
            updates.append((msg["_at"], count))
        if msg["msg_type"] == "update_display_data":
            final_html = msg["content"]["data"].get("text/html", "")
            break
    first, last = json.loads(
        kernel.run(
            "while 'result' not in _job: time.sleep(0.05)\nprint(json.dumps(_job['result']))"
        )
    )
    return {
        "updates": updates,
        "messages": messages,
        "final_html": final_html,
        "live_html": shown,
        "first": first,
        "last": last,
    }


def burst(kernel: Kernel, n: int) -> list[dict[str, Any]]:
    """Widget messages of one panel while ``n`` transitions arrive as fast as they commit."""
    seen = run_burst(kernel, n)
    updates, first, last = seen["updates"], seen["first"], seen["last"]
    span = max(updates[-1][0], last) - first
    final_ok = updates[-1][1] == n and "succeeded" in seen["final_html"]
    messages = seen["messages"]
    peak = max(sum(t <= u < t + 1.0 for u in messages) for t in messages)
    if not final_ok:
        raise RuntimeError(f"the panel's last update shows {updates[-1][1]} of {n} transitions")
    return [
        row(
            f"kernel: panel updates/s, burst of {n:,} transitions",
            len(updates) / span,
            "updates/s",
            anchor="transitions/s arriving",
            anchor_value=n / (last - first),
            target=f"≤ {REFRESH_RATE:g} (refresh_rate), final shown",
            higher_is_better=False,
        ),
        row(
            f"kernel: widget comm_msgs/s per panel, burst of {n:,} (mean)",
            len(messages) / span,
            "msgs/s",
            anchor="transitions/s arriving",
            anchor_value=n / (last - first),
            higher_is_better=False,
        ),
        row(
            f"kernel: widget comm_msgs in the busiest second, burst of {n:,}",
            peak,
            "msgs",
            anchor="transitions/s arriving",
            anchor_value=n / (last - first),
            target=f"≤ {REFRESH_RATE:g} (refresh_rate); final shown: {'yes' if final_ok else 'NO'}",
            higher_is_better=False,
        ),
    ]


def main(quick: bool) -> list[dict[str, Any]]:
    """Benchmark rows (see the module docstring)."""
    kernel = Kernel()
    try:
        rows = latency(kernel, quick)
        rows += burst(kernel, 10_000)
        rows += responsiveness(kernel, quick)
    finally:
        kernel.close()
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table(main("--quick" in sys.argv))
