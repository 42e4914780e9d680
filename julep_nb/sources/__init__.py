"""Execution services, each mapped onto the live layer's neutral vocabulary.

- :mod:`julep_nb.sources.julep`: the Julep v1 API (wire models, HTTP client, SSE
  reader, and :class:`~julep_nb.sources.julep.source.JulepSource`);
- :mod:`julep_nb.sources.temporal`: Temporal workflows on the official SDK
  (``julep_nb[temporal]``), and a dev server for notebooks and tests;
- :mod:`julep_nb.sources.thand`: Thand's execution API, polled;
- :mod:`julep_nb.sources.urls`: sources named by URL (``temporal://…``, ``thand+http://…``);
- :mod:`julep_nb.sources.summaries`: lists of executions that render as a table.
"""
