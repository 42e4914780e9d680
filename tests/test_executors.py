"""Headless executors save the final panels: nbclient, papermill and ``make demo``.

Each executor records only the messages of the cell it is running and stops after
the last one, so a panel whose final update went out as another cell's, or too late,
would be saved showing ``queued``. Every panel in the saved outputs (its static HTML,
its text and its saved widget state) must show a terminal status.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest

from julep_nb.live.events import ExecutionStatus

ROOT = Path(__file__).resolve().parent.parent
# 05 needs a Julep key; the others run offline (06 starts its own Temporal dev server).
NOTEBOOKS = sorted(
    p.name for p in (ROOT / "notebooks").glob("0*.ipynb") if not p.name.startswith("05")
)
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TERMINAL = {s.value for s in ExecutionStatus if s.is_terminal}

_BADGE = re.compile(r'title="status"[^>]*>([a-z_]+)</span>')
_TEXT = re.compile(r"^Julep execution \S+ · task \S+ · ([a-z_]+) ·", re.MULTILINE)


def panel_statuses(nb: Any) -> dict[str, list[str]]:
    """The status each saved panel shows, by where it is saved."""
    found: dict[str, list[str]] = {"html": [], "text": [], "widgets": []}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            found["html"] += _BADGE.findall(data.get("text/html", ""))
            found["text"] += _TEXT.findall(data.get("text/plain", ""))
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for model in state.values():
        value = model.get("state", {}).get("value")
        if isinstance(value, str):
            found["widgets"] += _BADGE.findall(value)
    return found


def assert_final_panels(nb: Any, name: str) -> None:
    found = panel_statuses(nb)
    assert found["html"], f"{name}: no panel was saved"
    for where, statuses in found.items():
        stale = [s for s in statuses if s not in TERMINAL]
        assert not stale, f"{name}: {where} panels saved as {stale} (all: {statuses})"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{name}: {errors}"


@pytest.fixture
def unattended(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `make test` sets: the notebooks answer their own forms."""
    for name in ("JULEP_API_KEY", "JULEP_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JULEP_NB_UNATTENDED", "1")


def _fresh(name: str, tmp_path: Path) -> Path:
    """A copy of the notebook with its saved outputs and widget state removed."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    for module in (ROOT / "notebooks").glob("*.py"):  # what notebooks import (06's workflows)
        if module.name != "conftest.py":
            shutil.copy(module, tmp_path / module.name)
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_nbclient_saves_only_terminal_panels(name: str, tmp_path: Path, unattended: None) -> None:
    from nbclient import NotebookClient

    src = _fresh(name, tmp_path)
    nb = nbformat.read(src, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert_final_panels(nb, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_papermill_saves_only_terminal_panels(name: str, tmp_path: Path, unattended: None) -> None:
    import papermill

    src = _fresh(name, tmp_path)
    out = tmp_path / f"out-{name}"
    papermill.execute_notebook(
        str(src), str(out), kernel_name="python3", cwd=str(tmp_path), progress_bar=False
    )
    assert_final_panels(nbformat.read(out, as_version=4), name)


def test_the_committed_notebooks_show_only_terminal_panels() -> None:
    """What GitHub and nbviewer show: the saved outputs of a real run."""
    for name in NOTEBOOKS:
        assert_final_panels(nbformat.read(ROOT / "notebooks" / name, as_version=4), name)


@pytest.mark.slow
def test_make_demo_headless_writes_the_final_panel(tmp_path: Path, unattended: None) -> None:
    from julep_nb.notebook_demo import run_headless

    html = run_headless(out_dir=tmp_path).read_text()
    statuses = _BADGE.findall(html)
    assert statuses and set(statuses) <= TERMINAL, statuses
