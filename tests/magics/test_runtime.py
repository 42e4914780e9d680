"""Where the magics run: one loop, watchers per cell, displays, a kernel-like loop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from julep_nb.magics.loop import kernel_loop, run_sync
from julep_nb.sources.julep.models import ExecutionStatus
from tests.magics.conftest import TASK_HELLO, TASK_SLOW, Shell

if TYPE_CHECKING:
    from julep_nb.local.server import LocalServer

S = ExecutionStatus


def test_run_sync_uses_one_persistent_loop() -> None:
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    first, second = run_sync(which()), run_sync(which())
    assert first is second is kernel_loop()
    assert not first.is_closed()


def test_an_interrupted_run_sync_cancels_its_coroutine() -> None:
    cancelled = []

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    def interrupt() -> None:  # what a SIGINT does: raise in whatever the loop runs
        raise KeyboardInterrupt

    kernel_loop().call_later(0.05, interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_sync(slow())
    run_sync(asyncio.sleep(0.01))  # let the cancellation unwind
    assert cancelled == [True]


def test_rerunning_a_cell_stops_the_watcher_it_started(julep: Shell) -> None:
    julep.run(f"%%julep_task\n{TASK_SLOW}")
    cell = "%julep_exec slow"
    first = julep.run(cell, cell_id="cell-a")
    other = julep.run(cell, cell_id="cell-b")
    julep.until(lambda: first.transitions != [] and other.transitions != [])
    assert first.watching

    second = julep.run(cell, cell_id="cell-a")  # the same cell again
    julep.until(lambda: not first.watching)
    assert not first.status.is_terminal and first.watch_error is None  # the execution goes on
    assert second.watching
    assert other.watching  # another cell's: untouched
    for handle in (first, second, other):
        julep.run(f"%julep_exec cancel {handle.id}")


def test_unload_stops_the_sessions_watchers(julep: Shell) -> None:
    julep.run(f"%%julep_task\n{TASK_SLOW}")
    slow = julep.run("%julep_exec slow")
    julep.until(lambda: slow.transitions != [])
    assert slow.watching
    julep.run(f"%julep_exec cancel {slow.id}")
    julep.run("%unload_ext julep_nb")
    julep.until(lambda: not slow.watching)
    assert julep.ip.find_line_magic("julep_exec") is None
    julep.run("%load_ext julep_nb")  # loads again cleanly
    assert julep.ip.find_cell_magic("julep_task") is not None


def test_the_panel_is_the_result_not_a_second_display(
    julep: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    julep.run(f"%%julep_task\n{TASK_HELLO}")
    before = len(julep.published())
    handle = julep.run("%%julep_exec hello --panel html\nname: Gus\n")
    bundles = julep.published()[before:]
    cards = [b for b in bundles if handle.id in b.get("text/html", "")]
    assert len(cards) == 1  # the panel, once
    assert "<ExecutionHandle" not in capsys.readouterr().out  # no Out[] repr as well

    run_sync(asyncio.wait_for(_final(handle), 10))
    julep.run("h = _")
    julep.run("h")  # later cells display it as usual: its static card
    latest = julep.published()[-1]
    assert handle.id in latest["text/html"]
    assert "succeeded" in latest["text/plain"]


def test_without_a_panel_the_result_shows_its_card(julep: Shell) -> None:
    julep.run(f"%%julep_task\n{TASK_HELLO}")
    before = len(julep.published())
    handle = julep.run("%%julep_exec hello --wait\nname: Hal\n")
    bundles = julep.published()[before:]
    assert [b["text/plain"] for b in bundles] == [repr(handle)]


async def _final(handle: object) -> object:
    return await handle  # type: ignore[misc]


KERNEL_SCRIPT = """
import asyncio, sys
from IPython.core.interactiveshell import InteractiveShell

url, task = sys.argv[1], sys.argv[2]
shell = InteractiveShell.instance()

async def cell(source):
    result = await shell.run_cell_async(
        source, store_history=True, transformed_cell=shell.transform_cell(source)
    )
    result.raise_error()
    return result.result

async def main():
    # Like ipykernel: every cell runs as a coroutine on the one running loop.
    await cell("%load_ext julep_nb")
    await cell(f"%config JulepMagics.base_url = {url!r}")
    await cell("%config JulepMagics.panel = 'none'")
    await cell("%%julep_task\\n" + task)
    handle = await cell("%%julep_exec pause -o h\\n{}")
    assert not handle.status.is_terminal, handle.status
    async with asyncio.timeout(10):  # no cell runs: the watcher advances on its own
        while not handle.status.is_terminal:
            await asyncio.sleep(0.02)
    assert handle.status.value == "succeeded", handle.status
    waited = await cell("%%julep_exec pause --wait\\n{}")  # nested run, no deadlock
    assert waited.status.value == "succeeded", waited.status
    state = await cell("await h")
    assert state.status.value == "succeeded"
    status = await cell(f"%julep_exec status {handle.id}")
    assert status.status.value == "succeeded"
    print("kernel-like loop: ok")

asyncio.run(main())
"""

TASK_PAUSE = """\
name: pause
main:
  - sleep:
      seconds: 0.3
  - evaluate:
      done: $ True
"""


def test_in_a_running_loop_like_ipykernel(local_server: LocalServer) -> None:
    # A subprocess: nest_asyncio2 patches asyncio for the whole process.
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KERNEL_SCRIPT), local_server.base_url, TASK_PAUSE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "kernel-like loop: ok" in out.stdout


def test_without_a_frontend_the_final_state_is_printed_when_it_comes(
    shell: Shell, local_server: LocalServer
) -> None:
    """Terminal IPython: the start as the result, the end printed by whichever cell runs."""
    shell.run(f"%config JulepMagics.base_url = {local_server.base_url!r}")
    shell.run(f"%%julep_task\n{TASK_HELLO}")
    before = len(shell.published())
    handle = shell.run("%%julep_exec hello -o h\nname: Tess\n")
    shell.run("h")  # what Out[N] shows
    shown = [b["text/plain"] for b in shell.published()[before:]]
    assert shown and all("succeeded" not in text for text in shown)
    assert repr(handle) in shown[0]

    shell.run("import asyncio\nstate = await h")  # the end arrives during this cell
    finals = [b["text/plain"] for b in shell.published()[before:] if "succeeded" in b["text/plain"]]
    assert len(finals) == 1 and finals[0].startswith(f"Julep execution {handle.id}")
    assert "Hello, Tess" in finals[0]

    # watch --wait of a finished execution: its real final state, never a placeholder
    before = len(shell.published())
    shell.run(f"%julep_exec watch {handle.id} --wait")
    texts = [b["text/plain"] for b in shell.published()[before:]]
    assert any(t.startswith(f"Julep execution {handle.id}") and "succeeded" in t for t in texts)
    assert not any("queued" in t or "task -" in t for t in texts), texts
