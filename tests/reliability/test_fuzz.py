"""Hypothesis fuzz of SSE decoding, event parsing, the reducer and the watcher.

Whatever bytes a server sends and in whatever order events come, julep_nb raises
only its own typed errors (:class:`JulepError`), never crashes the watcher, and
the state it builds stays coherent (no duplicate, ordered, terminal is final).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from julep_nb.display.html import render_execution, render_text
from julep_nb.live.state import ExecutionState, reduce
from julep_nb.live.watcher import Watcher
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import JulepError
from julep_nb.sources.julep.models import (
    Execution,
    ExecutionStatusEvent,
    Transition,
    TransitionType,
)
from julep_nb.sources.julep.source import JulepSource
from julep_nb.sources.julep.sse_parser import SSEParser
from julep_nb.sources.julep.streams import parse_status_event, parse_transition
from tests.faults import FaultServer, Request, Responder, routes

EXECUTION_ID = "00000000-0000-4000-8000-0000000000f2"
TASK_ID = "00000000-0000-4000-8000-0000000000ab"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
TYPES = ["init", "init_branch", "finish", "finish_branch", "wait", "resume", "error", "step"]
STATUSES = ["queued", "starting", "running", "awaiting_input", "succeeded", "failed", "cancelled"]

# SSE-looking lines mixed with noise, so the fuzz reaches the interesting branches.
_fields = st.sampled_from(["data: ", "data:", "id: ", "event: ", "retry: ", ": ", "", "x"])
_values = st.text(max_size=40) | st.sampled_from(['{"status": "running"}', "{'a': None}", "1"])
_lines = st.builds(
    lambda f, v, end: f + v + end, _fields, _values, st.sampled_from(["\n", "\r\n", "\r"])
)
_bodies = st.lists(_lines, max_size=30).map(lambda ls: "".join(ls).encode()) | st.binary(
    max_size=400
)


def _chunks(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    return [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]


@settings(max_examples=300, deadline=None)
@given(body=_bodies, cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_arbitrary_bytes_decode_to_events_or_typed_errors_only(body: bytes, cuts: list[int]):
    parser = SSEParser()
    events = [e for chunk in _chunks(body, cuts) for e in parser.feed(chunk)] + parser.close()
    state: ExecutionState | None = None
    for event in events:
        for parse in (parse_status_event, parse_transition):
            try:
                item, _final = parse(event)
            except JulepError:
                continue
            state = reduce(state, item)  # whatever parsed must also reduce
    if state is not None:
        render_text(state), render_execution(state)  # and render


def _ms(kind: str, ms: int) -> int:
    # A server appends nothing after a final transition: none is older than a step.
    return ms + 20 if kind in ("finish", "error", "cancelled") else ms


_transitions = st.builds(
    lambda i, kind, ms, out: Transition.model_validate(
        {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "execution_id": EXECUTION_ID,
            "type": kind,
            "output": out,
            "current": {"workflow": "main", "step": i % 5},
            "next": None,
            "created_at": (T0 + timedelta(milliseconds=_ms(kind, ms))).isoformat(),
        }
    ),
    st.integers(0, 12),
    st.sampled_from(TYPES + ["cancelled"]),
    st.integers(0, 20),
    st.none() | st.integers() | st.text(max_size=10),
)
_status_events = st.builds(
    lambda status, s, count: ExecutionStatusEvent.model_validate(
        {
            "execution_id": EXECUTION_ID,
            "status": status,
            "updated_at": (T0 + timedelta(seconds=s)).isoformat(),
            "error": "boom" if status == "failed" else None,
            "transition_count": count,
            "metadata": {},
        }
    ),
    st.sampled_from(STATUSES),
    st.integers(0, 20),
    st.integers(0, 15),
)
_snapshots = st.builds(
    lambda status, s: Execution.model_validate(
        {
            "id": EXECUTION_ID,
            "task_id": TASK_ID,
            "status": status,
            "input": {},
            "created_at": T0.isoformat(),
            "updated_at": (T0 + timedelta(seconds=s)).isoformat(),
        }
    ),
    st.sampled_from(STATUSES),
    st.integers(0, 20),
)


@settings(max_examples=400, deadline=None)
@given(events=st.lists(_transitions | _status_events | _snapshots, max_size=40))
def test_any_event_order_gives_a_coherent_state(events: list[Any]) -> None:
    state: ExecutionState | None = None
    was_terminal = False
    for event in events:
        state = reduce(state, event)
        assert not (was_terminal and not state.is_terminal), "a terminal status was undone"
        was_terminal = state.is_terminal
        ids = [t.id for t in state.transitions]
        assert len(ids) == len(set(ids))
        times = [t.created_at for t in state.transitions]
        assert times == sorted(times)
    if state is not None:
        sent = {e.id for e in events if isinstance(e, Transition)}
        assert {t.id for t in state.transitions} == sent
        render_text(state), render_execution(state)


def _server(stream_body: bytes, status_body: bytes) -> FaultServer:
    """Streams send the fuzzed bytes; snapshots say running once, then succeeded."""
    gets = 0

    async def execution(request: Request, reply: Responder) -> None:
        nonlocal gets
        gets += 1
        status = "running" if gets == 1 else "succeeded"
        body = {"id": EXECUTION_ID, "task_id": TASK_ID, "status": status, "input": {}}
        body |= {"created_at": T0.isoformat(), "updated_at": (T0 + timedelta(gets)).isoformat()}
        await reply.send_json(200, body | {"transition_count": 0})

    def stream(body: bytes):  # noqa: ANN202 - a Handler
        async def handler(request: Request, reply: Responder) -> None:
            await reply.start_stream()
            await reply.send(body or b"\n")
            await reply.drop()

        return handler

    async def transitions(request: Request, reply: Responder) -> None:
        await reply.send_raw(
            200, json.dumps({"items": []}).encode(), {"Content-Type": "application/json"}
        )

    base = f"/executions/{EXECUTION_ID}"
    return FaultServer(
        routes(
            {
                ("GET", base): execution,
                ("GET", f"{base}/transitions"): transitions,
                ("GET", f"{base}/transitions.stream"): stream(stream_body),
                ("GET", f"{base}/status.stream"): stream(status_body),
            }
        )
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stream_body=_bodies, status_body=_bodies)
def test_the_watcher_survives_any_stream_bytes(stream_body: bytes, status_body: bytes) -> None:
    async def scenario() -> Watcher:
        async with _server(stream_body, status_body) as server:
            async with Client(base_url=server.base_url, backoff=0.001, max_retries=1) as client:
                watcher = Watcher(JulepSource(client), EXECUTION_ID)
                watcher.start()
                async with asyncio.timeout(20):
                    try:
                        await watcher.wait()
                    except JulepError:
                        pass
                return watcher

    watcher = asyncio.run(scenario())
    assert watcher.done
    assert watcher.error is None or isinstance(watcher.error, JulepError), repr(watcher.error)
    assert watcher.error is not None or watcher.state.status.value == "succeeded"


def test_a_step_with_the_same_timestamp_as_finish_does_not_undo_success() -> None:
    # Found by the fuzz above: ids are uuid4, so on a timestamp tie the step could sort
    # after the finish and turn a succeeded execution back into "running".
    finish = Transition.model_validate(
        {
            "id": "00000000-0000-4000-8000-000000000000",
            "execution_id": EXECUTION_ID,
            "type": "finish",
            "output": {"done": True},
            "current": {"workflow": "main", "step": 1},
            "created_at": T0.isoformat(),
        }
    )
    step = finish.model_copy(
        update={"id": "ffffffff-0000-4000-8000-000000000000", "type": TransitionType.STEP}
    )
    for events in ([finish, step], [step, finish]):
        state = reduce(None, events[0])
        state = reduce(state, events[1])
        assert state.status.value == "succeeded" and state.output == {"done": True}
