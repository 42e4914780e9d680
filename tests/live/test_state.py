"""The pure reducer: dedup, ordering, status precedence, derived values."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from julep_nb.live.state import reduce, reduce_all
from julep_nb.sources.julep.models import (
    Execution,
    ExecutionStatus,
    ExecutionStatusEvent,
    Transition,
)

T0 = datetime(2025, 4, 16, 10, 0, 0, tzinfo=timezone.utc)
S = ExecutionStatus


def tr(
    i: int,
    kind: str,
    *,
    at: float | None = None,
    output: object = None,
    label=None,
    scope: str = "s0",
    step: int | None = None,
) -> Transition:
    return Transition.model_validate(
        {
            "id": f"t{i:04d}",
            "execution_id": "e1",
            "type": kind,
            "output": output,
            "current": {"workflow": "main", "step": i if step is None else step, "scope_id": scope},
            "next": None
            if kind in ("finish", "error", "cancelled")
            else {"workflow": "main", "step": i + 1, "scope_id": scope},
            "step_label": label,
            "created_at": (T0 + timedelta(seconds=i if at is None else at)).isoformat(),
        }
    )


def run_of(n_steps: int) -> list[Transition]:
    out = [tr(0, "init", output={"x": 1})]
    out += [tr(i, "step", output={"i": i}) for i in range(1, n_steps + 1)]
    out.append(tr(n_steps + 1, "finish", output={"result": n_steps}))
    return out


def test_transitions_build_the_status_output_and_count() -> None:
    state = reduce_all(None, run_of(3))
    assert state.execution_id == "e1"
    assert state.status is S.SUCCEEDED and state.is_terminal
    assert state.output == {"result": 3}
    assert state.transition_count == 5
    assert [t.type.value for t in state.transitions] == ["init", "step", "step", "step", "finish"]


def test_duplicates_and_shuffles_converge_on_the_same_timeline() -> None:
    events = run_of(20)
    noisy = events + random.Random(1).sample(events, 10)
    random.Random(2).shuffle(noisy)
    state = reduce_all(None, noisy)
    assert [t.id for t in state.transitions] == [t.id for t in events]
    assert state.status is S.SUCCEEDED


def test_earlier_states_are_not_changed_by_later_events() -> None:
    a = reduce_all(None, run_of(2)[:2])
    b = reduce(a, tr(2, "step"))
    c = reduce(a, tr(9, "wait", output={"info": {"q": "?"}}))  # branch from the same parent
    assert len(a.transitions) == 2
    assert [t.id for t in b.transitions] == ["t0000", "t0001", "t0002"]
    assert [t.id for t in c.transitions] == ["t0000", "t0001", "t0009"]
    assert c.status is S.AWAITING_INPUT and b.status is S.RUNNING


def test_waiting_info_is_unwrapped() -> None:
    state = reduce_all(None, [tr(0, "init"), tr(1, "wait", output={"info": {"ask": "ok?"}})])
    assert state.status is S.AWAITING_INPUT
    assert state.waiting_info == {"ask": "ok?"}
    resumed = reduce(state, tr(2, "resume", output={"ok": True}))
    assert resumed.status is S.RUNNING and resumed.waiting_info is None


def test_error_message_from_the_error_transition() -> None:
    state = reduce_all(None, [tr(0, "init"), tr(1, "error", output={"error": "boom"})])
    assert state.status is S.FAILED and state.error == "boom"
    assert reduce_all(None, [tr(0, "init"), tr(1, "error", output="bad")]).error == "bad"


def status_event(status: str, at: float, **extra: object) -> ExecutionStatusEvent:
    return ExecutionStatusEvent.model_validate(
        {
            "execution_id": "e1",
            "status": status,
            "updated_at": (T0 + timedelta(seconds=at)).isoformat(),
            **extra,
        }
    )


def test_status_event_ahead_of_transitions_wins_until_transitions_catch_up() -> None:
    state = reduce_all(None, [tr(0, "init"), status_event("running", 5, transition_count=3)])
    assert state.status is S.RUNNING and state.transition_count == 3
    state = reduce(state, tr(6, "wait", output={"info": {}}))
    assert state.status is S.AWAITING_INPUT


def test_terminal_is_final_and_stale_snapshots_do_not_regress() -> None:
    done = reduce_all(None, [*run_of(1), status_event("running", 0.5)])
    assert done.status is S.SUCCEEDED
    reported = reduce(None, status_event("cancelled", 3))
    assert reduce(reported, status_event("running", 4)).status is S.CANCELLED
    newer = reduce(None, status_event("running", 10))
    assert reduce(newer, status_event("queued", 1)).status is S.RUNNING


def test_snapshot_fills_in_execution_fields() -> None:
    snapshot = Execution.model_validate(
        {
            "id": "e1",
            "task_id": "task-1",
            "status": "running",
            "input": {"a": 1},
            "created_at": T0.isoformat(),
            "updated_at": (T0 + timedelta(seconds=2)).isoformat(),
            "transition_count": 2,
        }
    )
    state = reduce(None, snapshot)
    assert (state.task_id, state.input, state.status) == ("task-1", {"a": 1}, S.RUNNING)
    assert state.elapsed(now=T0 + timedelta(seconds=7)) == 7.0
    final = reduce_all(state, run_of(1))
    assert final.elapsed() == 2.0  # creation to the finish transition


def test_step_durations_and_timeline_limit() -> None:
    events = [
        tr(0, "init"),
        tr(1, "step", at=1.5, label="fetch"),
        tr(2, "step", at=4.0),
        tr(3, "finish", at=4.25),
    ]
    state = reduce_all(None, events)
    rows = state.timeline()
    assert [round(r.duration, 2) for r in rows] == [0.0, 1.5, 2.5, 0.25]
    assert rows[1].label == "fetch" and rows[2].label == "main[2]"
    assert [r.transition.id for r in state.timeline(limit=2)] == ["t0002", "t0003"]
    assert state.step_durations()["fetch"] == 1.5


def test_durations_are_per_scope_for_parallel_branches() -> None:
    events = [
        tr(0, "init"),
        tr(1, "init_branch", at=1, scope="a", step=0),
        tr(2, "init_branch", at=1.1, scope="b", step=0),
        tr(3, "finish_branch", at=3, scope="a", step=0),
        tr(4, "finish_branch", at=5.1, scope="b", step=0),
    ]
    rows = reduce_all(None, events).timeline()
    assert round(rows[3].duration, 2) == 2.0 and round(rows[4].duration, 2) == 4.0


def test_current_step() -> None:
    state = reduce_all(None, run_of(2)[:2])
    assert state.current_step_label == "main[2]"


def test_unknown_event_type_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="cannot apply dict"):
        reduce(None, {"status": "running"})  # type: ignore[call-overload]


def test_hundred_thousand_transitions_append_in_linear_time() -> None:
    state = reduce(None, tr(0, "init"))
    for i in range(1, 100_000):
        state = reduce(state, tr(i, "step", at=i / 1000))
    assert state.transition_count == 100_000
    assert len(state.timeline(limit=50)) == 50


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(range(12))), st.lists(st.integers(0, 11), max_size=8))
def test_any_order_with_repeats_gives_the_ordered_set(order: list[int], repeats: list[int]) -> None:
    events = run_of(10)
    state = reduce_all(None, [events[i] for i in order + repeats])
    assert [t.id for t in state.transitions] == [t.id for t in events]
    assert state.status is S.SUCCEEDED


def test_step_durations_of_older_states_ignore_later_transitions() -> None:
    events = [tr(0, "init"), tr(1, "step", at=1, label="a"), tr(2, "step", at=3, label="b")]
    events += [tr(3, "step", at=6, label="a"), tr(4, "finish", at=10, label="c")]
    states = [reduce(None, events[0])]
    for event in events[1:]:
        states.append(reduce(states[-1], event))
    expected = [{}, {"a": 1.0}, {"a": 1.0, "b": 2.0}, {"a": 4.0, "b": 2.0}]
    expected.append({"a": 4.0, "b": 2.0, "c": 4.0})
    for state, want in zip(states, expected, strict=True):
        got = {k: v for k, v in state.step_durations().items() if k.startswith(("a", "b", "c"))}
        assert got == want
        assert state.seen_count == len(state.transitions)
    assert list(states[-1].step_durations()) == ["main[0]", "a", "b", "c"]


def test_step_durations_of_the_newest_state_do_not_scan_all_transitions() -> None:
    state = reduce(None, tr(0, "init"))
    for i in range(1, 20_000):
        state = reduce(state, tr(i, "step", at=i / 1000, label=f"s{i % 3}"))
    started = time.perf_counter()
    for _ in range(1000):
        totals = state.step_durations()
    assert time.perf_counter() - started < 0.5  # a full scan each time takes seconds
    assert round(sum(totals.values()), 3) == 19.999


def test_transitions_read_back_whole_however_old() -> None:
    """Old rows are stored compactly and decoded on read: nothing is lost on the way."""
    events = run_of(600)  # more than the log keeps as models
    events[3] = events[3].model_copy(update={"metadata": {"step_type": "evaluate"}})
    state = reduce_all(None, events)
    view = state.transitions
    assert len(view) == 602 and list(view) == events and view == events
    assert view[3].metadata == {"step_type": "evaluate"} and view[3].step_type == "evaluate"
    assert view[0] == events[0] and view[-1] == events[-1] and view[-602] == events[0]
    assert view[10:13] == events[10:13] and view[::300] == events[::300]
    assert view[1].output == {"i": 1} and view[1].created_at == events[1].created_at
    with pytest.raises(IndexError, match="602 transitions"):
        view[602]
    earlier = reduce_all(None, events[:5])
    assert earlier.transitions != view and earlier.transitions == events[:5]
    assert state.has_transition(events[0].id) and not earlier.has_transition(events[9].id)


def test_an_older_state_reads_its_own_latest_transition() -> None:
    events = run_of(600)
    states = [reduce(None, events[0])]
    for event in events[1:]:
        states.append(reduce(states[-1], event))
    old = states[10]  # its latest row is no longer kept as a model by the shared log
    assert old.latest_transition == events[10] and old.output == {"i": 10}
    assert old.status is S.RUNNING and states[-1].status is S.SUCCEEDED
    assert [row.transition.id for row in old.timeline(limit=3)] == [e.id for e in events[8:11]]
