"""One live panel for a whole batch (see :mod:`.widget`; the static HTML is :mod:`.html`)."""

from __future__ import annotations

from julep_nb.display.batch_panel.html import render_batch, render_batch_text
from julep_nb.display.batch_panel.widget import BatchPanel, show_batch

__all__ = ["BatchPanel", "render_batch", "render_batch_text", "show_batch"]
