"""HTTP client side: wire models, errors, configuration, client, SSE."""
