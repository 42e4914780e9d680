"""The pacing arithmetic: no one-second window holds more than ``rate`` messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from julep_nb.display.pacing import MessagePacer

from .conftest import busiest_window


@given(
    rate=st.sampled_from([1, 2, 5, 10, 30]),
    updates=st.lists(st.tuples(st.floats(0, 0.5), st.integers(0, 4)), min_size=1, max_size=200),
)
def test_no_second_holds_more_than_rate_messages(
    rate: int, updates: list[tuple[float, int]]
) -> None:
    """Changes arrive at any pace; each update goes when due and sends what it expected."""
    pacer = MessagePacer(rate)
    now, sends = 0.0, []
    for gap, messages in updates:
        now = max(now + gap, pacer.due(max(messages, 1)))
        pacer.applied(now, messages)
        if messages:
            sends.append((now, messages))
    if sends:
        assert busiest_window(sends) <= max(rate, max(k for _, k in sends))


def test_a_steady_burst_goes_at_the_rate_and_no_faster() -> None:
    pacer = MessagePacer(10)
    times = []
    now = 0.0
    for _ in range(100):  # a change every millisecond, one message per update
        now = max(now + 0.001, pacer.due())
        pacer.applied(now, 1)
        times.append(now)
    assert times[-1] - times[0] == pytest.approx(9.9, abs=1e-3)  # 100 updates, 0.1 s apart
    assert busiest_window([(t, 1) for t in times]) == 10


def test_a_two_message_update_costs_two_periods() -> None:
    pacer = MessagePacer(10)
    pacer.applied(0.0, 2)
    assert pacer.due() == pytest.approx(0.2, abs=1e-3)  # (2 + 1 - 1) periods after
    pacer.applied(0.2, 1)
    assert pacer.due(2) == pytest.approx(0.4, abs=1e-3)  # the next expects two: it waits for both
    pacer.applied(0.4, 0)  # nothing changed: only the period applies
    assert pacer.due() == pytest.approx(0.5, abs=1e-3)


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="refresh_rate must be positive"):
        MessagePacer(0)
