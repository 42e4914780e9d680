"""When a live view may send its next update, so a burst never floods the frontend.

A view that sends ``k`` messages in one update (one per widget that changed) must not
send more than ``rate`` messages in any one second, however fast its source changes.
:class:`MessagePacer` is the arithmetic: pure, on whatever clock the caller passes.
"""

from __future__ import annotations

__all__ = ["MessagePacer"]

SLACK = 1e-6  # seconds: float rounding must never pull an update ahead of its slot


class MessagePacer:
    """The earliest time of each update, given what the previous updates sent.

    Updates are ``1 / rate`` apart, and after an update that sent ``k`` messages the
    next one, expected to send ``j``, waits ``(k + j - 1) / rate``. Over a window
    holding updates ``i..m`` that sums to at least ``(K - 1) / rate`` for the ``K``
    messages they send, so a window shorter than a second holds at most ``rate``.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"refresh_rate must be positive (updates per second), not {rate!r}")
        self.period = 1.0 / rate
        self.last_apply = float("-inf")  # when the last update was applied
        self.last_send = float("-inf")  # ...and the last one that sent messages
        self.last_sent = 0  # how many that one sent

    def due(self, expected: int = 1) -> float:
        """When an update expected to send ``expected`` messages may go."""
        budget = max(self.last_sent + expected - 1, 0) * self.period
        return max(self.last_apply + self.period, self.last_send + budget) + SLACK

    def applied(self, at: float, sent: int) -> None:
        """Record an update applied at ``at`` that sent ``sent`` messages."""
        self.last_apply = at
        if sent:
            self.last_send, self.last_sent = at, sent
