"""nbval setup for ``pytest --nbval notebooks/``.

- ``JULEP_NB_UNATTENDED=1`` reaches the kernel, so the notebooks answer their own forms.
- Cells tagged ``julep-needs-key`` are skipped when ``JULEP_API_KEY`` is not set.
- ``update_display_data`` is applied to the output it updates (nbval drops it), so a
  cell that starts a watcher and waits (``--wait``) is compared with its final panel.
- The hosted-Julep variables are dropped when no key is set, so the notebooks use the
  embedded local server whatever the shell exports.
"""

from __future__ import annotations

import os

import pytest
from nbformat import NotebookNode
from nbval.plugin import IPyNbFile

os.environ["JULEP_NB_UNATTENDED"] = "1"
if not os.environ.get("JULEP_API_KEY"):
    os.environ.pop("JULEP_BASE_URL", None)

NEEDS_KEY = "julep-needs-key"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip key-needing cells without a key (nbval's own tags cannot be conditional)."""
    if os.environ.get("JULEP_API_KEY"):
        return
    skip = pytest.mark.skip(reason=f"cell tagged {NEEDS_KEY}: set JULEP_API_KEY to run it")
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and NEEDS_KEY in cell.get("metadata", {}).get("tags", []):
            item.add_marker(skip)


_displays: dict[str, NotebookNode] = {}
_get_kernel_message = IPyNbFile.get_kernel_message


def _get_kernel_message_with_updates(self: IPyNbFile, timeout=None, stream="iopub"):  # type: ignore[no-untyped-def]
    """nbval's reader, plus display updates applied in place to the outputs they target."""
    msg = _get_kernel_message(self, timeout=timeout, stream=stream)
    content = msg.get("content", {})
    display_id = content.get("transient", {}).get("display_id")
    if display_id and msg["msg_type"] == "display_data":
        # A NotebookNode is stored by reference in nbval's output, so updating it later
        # updates the output that nbval compares at the end of the cell.
        content["data"] = _displays[display_id] = NotebookNode(content["data"])
    elif msg["msg_type"] == "update_display_data":
        target = _displays.get(display_id or "")
        if target is not None:
            target.clear()
            target.update(content["data"])
        msg["msg_type"] = "comm_update_display"  # nbval skips comm* messages quietly
    return msg


IPyNbFile.get_kernel_message = _get_kernel_message_with_updates  # type: ignore[method-assign]
