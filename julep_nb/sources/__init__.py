"""Execution services, each mapped onto the live layer's neutral vocabulary.

One package or module per service: :mod:`julep_nb.sources.julep` (the Julep v1 API:
wire models, HTTP client, SSE reader, and the source that maps them).
"""
