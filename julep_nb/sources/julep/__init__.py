"""Julep v1 executions API: wire models, errors, configuration, HTTP client, SSE reader."""
