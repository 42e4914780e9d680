"""Notebooks 01 and 02 run in JupyterLab, in headless chromium: the real front end.

Screenshots of each notebook are saved under ``artifacts/screenshots/`` (CI keeps them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser.conftest import Lab

pytestmark = pytest.mark.browser

TERMINAL = {"succeeded", "failed", "cancelled"}
APP_READY = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(k && k.status === 'idle' && w.content.widgets.length);
}"""
KERNEL_STATUS = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
RUN_NEXT = """async () => {
  await window.jupyterapp.commands.execute('notebook:run-cell-and-select-next');
}"""


def _open(page: Any, lab: Lab, name: str) -> None:
    # A fresh workspace per notebook: Lab would otherwise restore the other one's tab.
    page.goto(lab.url(f"lab/workspaces/{name[:2]}/tree/{name}") + "&reset")
    page.wait_for_function(APP_READY, timeout=60_000)


def _command(page: Any, command: str) -> None:
    page.evaluate(f"async () => {{ await window.jupyterapp.commands.execute('{command}'); }}")


def _wait_idle(page: Any, timeout: float = 60) -> None:
    """Until the kernel is idle and no cell shows ``[*]`` (queued or running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = page.locator(".jp-InputPrompt", has_text="[*]").count()
        if busy == 0 and page.evaluate(KERNEL_STATUS) == "idle":
            return
        time.sleep(0.1)
    raise AssertionError(f"the kernel was still busy after {timeout} s")


def _cell(page: Any, text: str) -> Any:
    return page.locator(".jp-CodeCell").filter(has_text=text).first


def _badge(cell: Any) -> str:
    badges = cell.locator('.jp-OutputArea span[title="status"]')
    return badges.first.inner_text().strip() if badges.count() else ""


def _wait_badge(cell: Any, wanted: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _badge(cell) != wanted:
        assert time.monotonic() < deadline, f"badge {_badge(cell)!r}, expected {wanted!r}"
        time.sleep(0.1)


def _saved_html(path: Path, text: str) -> str:
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and text in c.source)
    return "".join(str(o.get("data", {}).get("text/html", "")) for o in cell.outputs if "data" in o)


def test_quickstart_panel_updates_while_kernel_idle(
    browser: Any, lab: Lab, screenshots: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    try:
        _open(page, lab, "01_quickstart.ipynb")
        page.evaluate(
            "() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0; }"
        )
        for _ in range(6):  # up to and including the %%julep_exec cell
            page.evaluate(RUN_NEXT)
        _wait_idle(page)
        cell = _cell(page, "%%julep_exec hello")
        page.wait_for_function(
            "() => !!document.querySelector('.jp-OutputArea span[title=\"status\"]')",
            timeout=30_000,
        )
        seen: list[tuple[str, str, int]] = []
        deadline = time.monotonic() + 30
        while True:
            badge = _badge(cell)  # then the rows: once the badge is final, so is the table
            rows = cell.locator(".jp-OutputArea table tr").count()
            seen.append((badge, page.evaluate(KERNEL_STATUS), rows))
            if seen[-1][0] in TERMINAL or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        page.screenshot(path=str(screenshots / "01_quickstart_panel.png"), full_page=True)
        badges = [badge for badge, _, _ in seen]
        assert badges[0] not in TERMINAL and badges[-1] == "succeeded", seen
        assert all(kernel == "idle" for _, kernel, _ in seen), seen
        assert seen[-1][2] > seen[0][2], f"the timeline did not grow: {seen}"

        for _ in range(5):  # the rest: await h, the output in Python
            page.evaluate(RUN_NEXT)
        _wait_idle(page)
        _command(page, "docmanager:save")
        time.sleep(1)
        page.screenshot(path=str(screenshots / "01_quickstart_done.png"), full_page=True)
    finally:
        page.close()
    html = _saved_html(lab.root / "01_quickstart.ipynb", "%%julep_exec hello")
    assert "succeeded" in html and "HELLO, ADA!" in html, html[:500]


def test_form_resume_and_cancel_button(browser: Any, lab: Lab, screenshots: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 2400})
    try:
        _open(page, lab, "02_human_in_the_loop.ipynb")
        _command(page, "notebook:run-all-cells")
        _wait_idle(page, timeout=90)

        form_cell = _cell(page, "-o form_run")
        _wait_badge(form_cell, "awaiting_input")
        form_cell.locator(".widget-checkbox input[type=checkbox]").first.check()
        form_cell.locator(".widget-text input").first.fill("approved in chromium")
        page.screenshot(path=str(screenshots / "02_form_filled.png"), full_page=True)
        form_cell.locator("button", has_text="Resume").first.click()
        _wait_badge(form_cell, "succeeded")

        nap_cell = _cell(page, "%%julep_exec nap")
        _wait_badge(nap_cell, "running")
        nap_cell.locator("button", has_text="Cancel").first.click()
        _wait_badge(nap_cell, "cancelled")
        time.sleep(0.5)  # the final display update follows the badge
        _command(page, "docmanager:save")
        time.sleep(1)
        page.screenshot(path=str(screenshots / "02_resumed_and_cancelled.png"), full_page=True)
    finally:
        page.close()
    saved = lab.root / "02_human_in_the_loop.ipynb"
    form_html = _saved_html(saved, "-o form_run")
    assert "succeeded" in form_html and "approved in chromium" in form_html, form_html[:500]
    assert "cancelled" in _saved_html(saved, "%%julep_exec nap")
