"""The pure parts: history events -> timeline rows, ids, errors (no server)."""

from __future__ import annotations

import pytest

pytest.importorskip("temporalio", reason="temporalio is not installed: pip install -e '.[dev]'")

from datetime import datetime, timedelta, timezone

from temporalio.api.common.v1 import ActivityType, Payloads, WorkflowType
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from julep_nb.live.errors import ActionRefused, SourceNotFound, SourceUnreachable
from julep_nb.live.events import ExecutionStatus, StatusReport, TimelineEntry
from julep_nb.live.state import reduce_all
from julep_nb.sources.temporal import HistoryMapper, execution_id, parse_execution_id
from julep_nb.sources.temporal.errors import map_rpc_error

S = ExecutionStatus
CONVERTER = DataConverter.default.payload_converter
RUN = "0192a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def payloads(*values: object) -> Payloads:
    return Payloads(payloads=CONVERTER.to_payloads(list(values)))


def event(event_id: int, kind: str, seconds: float = 0, **attrs: object) -> HistoryEvent:
    built = HistoryEvent(event_id=event_id, event_type=EventType.EVENT_TYPE_UNSPECIFIED)
    built.event_time.FromDatetime(T0 + timedelta(seconds=seconds))
    getattr(built, f"{kind}_event_attributes").CopyFrom(
        type(getattr(built, f"{kind}_event_attributes"))(**attrs)
    )
    return built


def mapper(*, chain: bool = False) -> HistoryMapper:
    return HistoryMapper("wf", RUN, decode=CONVERTER.from_payloads, follow_chain=chain)


def history(close: HistoryEvent) -> list[HistoryEvent]:
    return [
        event(1, "workflow_execution_started", workflow_type=WorkflowType(name="Flow"),
              input=payloads("x")),
        event(2, "workflow_task_scheduled", 0.1),
        event(3, "workflow_task_started", 0.1),
        event(4, "workflow_task_completed", 0.2),
        event(5, "activity_task_scheduled", 0.2, activity_id="1",
              activity_type=ActivityType(name="fetch")),
        event(6, "timer_started", 0.2, timer_id="t1"),
        event(7, "workflow_execution_signaled", 0.3, signal_name="approve",
              input=payloads({"by": "ana"})),
        event(8, "activity_task_started", 0.4, scheduled_event_id=5, attempt=2,
              last_failure=Failure(message="boom")),
        event(9, "activity_task_completed", 0.5, scheduled_event_id=5, started_event_id=8,
              result=payloads({"rows": 3})),
        event(10, "timer_fired", 0.6, timer_id="t1", started_event_id=6),
        close,
    ]  # fmt: skip


def entries(events: list) -> list[TimelineEntry]:
    return [e for e in events if isinstance(e, TimelineEntry)]


def test_one_row_per_activity_timer_signal_and_no_workflow_task_rows() -> None:
    m = mapper()
    out = [e for ev in history(event(11, "workflow_execution_completed", 0.7,
                                     result=payloads("ok"))) for e in m.feed(ev)]  # fmt: skip
    rows = entries(out)
    assert [(r.kind, r.label) for r in rows] == [
        ("workflow", "started"),
        ("signal", "approve"),
        ("activity", "fetch"),
        ("timer", "timer 0 s"),
        ("workflow", "completed"),
    ]
    activity = rows[2]
    assert activity.status is S.SUCCEEDED and activity.attempt == 2
    assert activity.output == {"rows": 3} and activity.error is None and "boom" in activity.note
    assert activity.started_at == T0 + timedelta(seconds=0.4) and activity.ended_at is not None
    assert rows[1].output == {"by": "ana"}
    state = reduce_all(None, out)
    assert state.status is S.SUCCEEDED and state.output == "ok" and state.input == "x"


def test_open_activities_are_running_until_they_close() -> None:
    m = mapper()
    for ev in history(event(11, "workflow_execution_completed"))[:6]:
        m.feed(ev)
    running = m.open_entries()
    assert [(e.kind, e.label, e.status) for e in running] == [
        ("activity", "fetch", S.RUNNING),
        ("timer", "timer 0 s", S.RUNNING),
    ]
    assert m.activity_event_id("1") == 5


def test_failed_activity_and_workflow_carry_the_reason() -> None:
    m = mapper()
    events = history(event(11, "workflow_execution_failed", 1,
                           failure=Failure(message="Activity task failed",
                                           cause=Failure(message="bad input"))))  # fmt: skip
    events[8] = event(9, "activity_task_failed", 0.5, scheduled_event_id=5,
                      failure=Failure(message="bad input"))  # fmt: skip
    out = [e for ev in events for e in m.feed(ev)]
    failed = [r for r in entries(out) if r.kind == "activity"][0]
    assert failed.status is S.FAILED and failed.error == "bad input"
    state = reduce_all(None, out)
    assert state.status is S.FAILED and state.error == "Activity task failed: bad input"


def test_terminated_keeps_its_reason() -> None:
    out = [e for ev in history(event(11, "workflow_execution_terminated", 1, reason="stuck"))
           for e in mapper().feed(ev)]  # fmt: skip
    state = reduce_all(None, out)
    assert state.status is S.TERMINATED and state.error == "stuck"


def test_continue_as_new_ends_a_run_but_not_a_chain() -> None:
    close = event(11, "workflow_execution_continued_as_new", 1, new_execution_run_id="next")
    pinned = reduce_all(None, [e for ev in history(close) for e in mapper().feed(ev)])
    assert pinned.status is S.CONTINUED_AS_NEW and pinned.next_run == "next"
    chained = reduce_all(None, [e for ev in history(close) for e in mapper(chain=True).feed(ev)])
    assert chained.status is S.RUNNING and chained.next_run == "next"
    assert chained.entries[-1].status is S.CONTINUED_AS_NEW


def test_entry_ids_are_stable_across_a_reread() -> None:
    first = [e.id for ev in history(event(11, "workflow_execution_completed"))
             for e in entries(mapper().feed(ev))]  # fmt: skip
    again = [e.id for ev in history(event(11, "workflow_execution_completed"))
             for e in entries(mapper().feed(ev))]  # fmt: skip
    assert first == again and len(set(first)) == len(first)
    assert all(i.startswith(RUN) for i in first)


def test_execution_ids_pin_a_run_only_with_a_run_uuid() -> None:
    assert parse_execution_id("order@42").run_id is None
    ref = parse_execution_id(execution_id("a@b", RUN))
    assert (ref.workflow_id, ref.run_id) == ("a@b", RUN)
    assert parse_execution_id("plain").follows_chain


def test_rpc_errors_map_onto_the_source_error_tree() -> None:
    def err(code: RPCStatusCode) -> RPCError:
        return RPCError("nope", code, b"")

    assert isinstance(map_rpc_error(err(RPCStatusCode.NOT_FOUND), "x"), SourceNotFound)
    assert isinstance(map_rpc_error(err(RPCStatusCode.UNAVAILABLE), "x"), SourceUnreachable)
    assert isinstance(map_rpc_error(err(RPCStatusCode.FAILED_PRECONDITION), "x"), ActionRefused)
    assert "read history" in str(map_rpc_error(err(RPCStatusCode.INTERNAL), "read history"))


def test_reports_name_the_workflow() -> None:
    out = mapper().feed(history(event(11, "workflow_execution_completed"))[0])
    report = next(e for e in out if isinstance(e, StatusReport))
    assert report.name == "Flow" and report.source == "Temporal"


def test_public_names_are_sorted_and_resolve() -> None:
    import julep_nb.sources.temporal as package

    assert package.__all__ == sorted(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)
