"""The display layer: how an execution looks in a notebook.

- :mod:`julep_nb.display.html`: pure renderers (state or wire objects in, escaped HTML
  or text out), used by every repr, the static outputs and the widgets; the timeline
  table is :mod:`julep_nb.display.timeline`;
- :mod:`julep_nb.display.panel`: the live ipywidgets panel and :func:`show` (its view,
  update driver and controls);
- :mod:`julep_nb.display.form`: the resume form shown while ``awaiting_input``.

Nothing here imports ipywidgets or IPython until a panel or form is built.
"""
