"""When to try again: one rule for the client's retries and the SSE reader's reconnects."""

from __future__ import annotations

import random

__all__ = ["backoff_delay", "retryable_status"]


def retryable_status(status: int) -> bool:
    """An HTTP status worth another attempt: a timeout, rate limiting, a server failure."""
    return status in (408, 429) or status >= 500


def backoff_delay(
    attempt: int, *, base: float, ceiling: float, floor: float | None = None
) -> float:
    """Seconds before attempt ``attempt`` (1, 2, …): exponential, with "equal jitter".

    At least half of ``base * 2**(attempt-1)`` (capped at ``ceiling``), so retries
    stay spread out, and never less than ``floor`` (a server's Retry-After).
    """
    step = min(ceiling, base * 2 ** max(attempt - 1, 0))
    return max(step / 2 + random.uniform(0, step / 2), floor or 0.0)
