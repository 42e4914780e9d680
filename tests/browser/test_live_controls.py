"""A Temporal panel's Signal form and a batch panel's Open + resume form, in chromium.

Each test writes its notebook into the lab's folder at run time, runs it cell by cell
and answers the panel's widgets the way a user would. Screenshots go to
``artifacts/screenshots/``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser.conftest import NOTEBOOKS, Lab
from tests.browser.test_jupyterlab import (
    KERNEL_STATUS,
    RUN_NEXT,
    _badge,
    _cell,
    _open,
    _wait_idle,
)

pytestmark = pytest.mark.browser

TEMPORAL_CELLS = [
    """
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path().resolve()))  # approval_workflows.py sits beside this notebook

from temporalio.worker import Worker

import approval_workflows as flows
from julep_nb.display.panel import show
from julep_nb.sources.temporal import TemporalSource, start_dev_server

server = start_dev_server()
src = await TemporalSource.connect(target=server.target)
worker = Worker(src.client, task_queue="browser", workflows=flows.WORKFLOWS,
                activities=flows.ACTIVITIES)
worker_task = asyncio.ensure_future(worker.run())
""",
    """
h = await src.start_workflow(flows.ApprovalWorkflow.run, "deploy v3", id="browser-approval",
                             task_queue="browser")
while h.state.signals == () or await h.query("waiting") is not True:
    await asyncio.sleep(0.05)
sorted(h.state.signals)
""",
    "panel = show(h)",
    "print((await h).output)",
    """
worker_task.cancel()
await worker.shutdown()
server.stop()
""",
]

GATE_TASK = """
%%julep_task --name gate
main:
  - if: $ _.ask
    then:
      wait_for_input:
        info:
          message: $ "Let item " + str(_.n) + " through?"
          input_schema:
            type: object
            properties:
              approved: {type: boolean}
            required: [approved]
    else:
      evaluate:
        approved: $ _.n > 0
  - evaluate:
      approved: $ _.approved
"""

BATCH_CELLS = [
    "%load_ext julep_nb",
    GATE_TASK,
    'items = [{"n": 1, "ask": True}, {"n": 2, "ask": False}, {"n": 3, "ask": True}]',
    "%%julep_exec gate --over items -o gates\n# each item of `items` is one input",
    "print(sorted((s.status.value, s.output['approved']) for s in await gates))",
]


def _write_notebook(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(source.strip()) for source in sources]
    nbformat.write(nb, path)


def _run_cells(page: Any, count: int, *, first: int | None = None) -> None:
    if first is not None:
        page.evaluate(
            f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {first}; }}"
        )
    for _ in range(count):
        page.evaluate(RUN_NEXT)


def _wait_for(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _output_text(cell: Any) -> str:
    area = cell.locator(".jp-OutputArea")
    return str(area.first.inner_text()) if area.count() else ""


def test_temporal_signal_form_sends_approve(browser: Any, lab: Lab, screenshots: Path) -> None:
    pytest.importorskip("temporalio", reason="temporalio is not installed: pip install temporalio")
    name = "t1_temporal_signal.ipynb"
    shutil.copy(NOTEBOOKS / "approval_workflows.py", lab.root / "approval_workflows.py")
    _write_notebook(lab.root / name, TEMPORAL_CELLS)
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    try:
        _open(page, lab, name)
        _run_cells(page, 3, first=0)  # start the server and worker, the workflow, its panel
        _wait_idle(page, timeout=120)
        cell = _cell(page, "panel = show(h)")
        _wait_for("the panel's badge", lambda: _badge(cell) == "running")
        # the live HTML carries classes; their rules (the panel's <style>) colour the badge
        badge = cell.locator('.jp-OutputArea span[title="status"]').first
        assert (
            "style" not in (badge.get_attribute("class") or "")
            and badge.get_attribute("style") is None
        )
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(21, 101, 192)"

        cell.locator("button", has_text="Signal").first.click()
        names = cell.locator(".widget-dropdown select").first
        names.wait_for(state="visible", timeout=15_000)
        names.select_option(label="approve")
        cell.locator(".widget-textarea textarea").first.fill("by: chromium\nnote: shipped")
        page.screenshot(path=str(screenshots / "15_temporal_signal_form.png"), full_page=True)
        cell.locator("button", has_text="Send").first.click()

        # The kernel handles the click (busy for a moment) but no cell runs meanwhile.
        running: list[int] = []

        def ended() -> bool:
            running.append(page.locator(".jp-InputPrompt", has_text="[*]").count())
            return _badge(cell) == "succeeded"

        _wait_for("succeeded", ended, timeout=60)
        assert set(running) == {0}, running
        assert page.evaluate(KERNEL_STATUS) == "idle"
        time.sleep(0.5)  # the final display update follows the badge
        page.screenshot(path=str(screenshots / "15_temporal_signalled.png"), full_page=True)

        _run_cells(page, 2, first=3)  # the result in Python, then stop the worker and the server
        _wait_idle(page, timeout=60)
        result = _output_text(_cell(page, "print((await h).output)"))
    finally:
        page.close()
    assert "'approved': True" in result and "'by': 'chromium'" in result, result
    assert "'note': 'shipped'" in result and "'request': 'deploy v3'" in result, result


def _answer_next(cell: Any) -> None:
    """Open the first execution still waiting and approve it in its resume form."""
    boxes = cell.locator(".widget-checkbox input[type=checkbox]:visible")
    # The batch's table may drop an answered item before that item's panel drops its
    # form: the first checkbox would then be that form's (checked already), and the
    # new form would be sent unchecked.
    _wait_for("the answered form to go", lambda: boxes.count() == 0)
    cell.locator("button", has_text="Open").first.click()
    form = boxes.first
    form.wait_for(state="visible", timeout=15_000)
    form.check()
    cell.locator("button:visible", has_text="Resume").first.click()


def test_batch_panel_open_and_resume(browser: Any, lab: Lab, screenshots: Path) -> None:
    name = "b1_batch_resume.ipynb"
    _write_notebook(lab.root / name, BATCH_CELLS)
    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    try:
        _open(page, lab, name)
        _run_cells(page, 4, first=0)  # up to and including the %%julep_exec --over cell
        _wait_idle(page, timeout=90)
        cell = _cell(page, "%%julep_exec gate --over items")
        opens = cell.locator("button", has_text="Open")
        _wait_for("two Open buttons", lambda: opens.count() == 2)
        text = _output_text(cell)
        assert "Batch of 3 executions" in text and "awaiting_input 2" in text, text
        assert "succeeded 1" in text and "Let item 1 through?" in text, text
        assert "Let item 3 through?" in text, text
        page.screenshot(path=str(screenshots / "16_batch_waiting.png"), full_page=True)

        _answer_next(cell)
        _wait_for("one Open button", lambda: opens.count() == 1)
        _answer_next(cell)
        _wait_for("the batch's end", lambda: "(done)" in _output_text(cell), timeout=60)
        assert page.evaluate(KERNEL_STATUS) == "idle"
        time.sleep(0.5)
        page.screenshot(path=str(screenshots / "16_batch_done.png"), full_page=True)
        done = _output_text(cell)

        _run_cells(page, 1, first=4)  # clicks in an output make that cell the active one
        _wait_idle(page, timeout=60)
        result = _output_text(_cell(page, "for s in await gates"))
    finally:
        page.close()
    assert "succeeded 3" in done and "awaiting_input" not in done, done
    assert result.strip() == str([("succeeded", True)] * 3), result
