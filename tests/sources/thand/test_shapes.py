"""ThandSource reads both of Thand's JSON shapes (its code's and its API reference's).

Pure: an ``httpx.MockTransport`` answers with the shapes; no server, no Temporal.
"""

from __future__ import annotations

import base64
import json
import zlib

import httpx
import pytest

from julep_nb.live.errors import SourceNotFound, SourceUnauthorized
from julep_nb.live.events import ExecutionStatus, StatusReport, TimelineEntry
from julep_nb.sources.thand import ThandSource, encode_signal, thand_status

S = ExecutionStatus
CODE_DETAIL = {
    "execution": {
        "id": "wf-1", "run": "r-1", "name": "request-access", "status": "WAITING",
        "started_at": "2026-01-01T00:00:00Z", "task": "approve",
        "history": ["validate", "notify"], "user": "ana@example.com",
    },
    "workflow": None,
}  # fmt: skip
REFERENCE_DETAIL = {
    "workflow_id": "wf-1", "run_id": "r-1", "status": "completed",
    "start_time": "2026-01-01T00:00:00Z", "execution_time": "PT5M", "task_queue": "thand",
    "workflow_type": {"name": "request-access"},
    "history": [
        {"event_type": "WorkflowExecutionStarted", "timestamp": "2026-01-01T00:00:00Z"},
        {"event_type": "WorkflowExecutionCompleted", "timestamp": "2026-01-01T00:05:00Z"},
    ],
}  # fmt: skip


def source_answering(routes: dict[str, object], seen: list[httpx.Request]) -> ThandSource:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = routes.get(request.url.path)
        if body is None:
            return httpx.Response(404, json={"code": 404, "title": "Not Found", "message": "no"})
        return httpx.Response(200, json=body)

    return ThandSource(
        "http://thand.test/api/v1", token="tok-123", transport=httpx.MockTransport(answer)
    )


async def test_code_shape_details() -> None:
    seen: list[httpx.Request] = []
    source = source_answering({"/api/v1/execution/wf-1": CODE_DETAIL}, seen)
    snapshot = await source.snapshot("wf-1")
    report = snapshot.events[0]
    assert isinstance(report, StatusReport)
    assert report.status is S.AWAITING_INPUT and report.name == "request-access"
    rows = [e.label for e in snapshot.events if isinstance(e, TimelineEntry)]
    assert rows == ["validate", "notify"]
    assert seen[0].headers["authorization"] == "Bearer tok-123"


async def test_reference_shape_details_and_listing() -> None:
    seen: list[httpx.Request] = []
    listing = {"executions": [{k: v for k, v in REFERENCE_DETAIL.items() if k != "history"}]}
    source = source_answering(
        {"/api/v1/execution/wf-1": REFERENCE_DETAIL, "/api/v1/executions": listing}, seen
    )
    snapshot = await source.snapshot("wf-1")
    assert snapshot.events[0].status is S.SUCCEEDED
    rows = [e for e in snapshot.events if isinstance(e, TimelineEntry)]
    assert [r.label for r in rows] == ["WorkflowExecutionStarted", "WorkflowExecutionCompleted"]
    assert rows[1].at > rows[0].at
    listed = await source.list()
    assert [(s.id, s.status, s.name, s.run_id) for s in listed] == [
        ("wf-1", S.SUCCEEDED, "request-access", "r-1")
    ]


async def test_api_key_header_and_token_never_shown() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"code": 401, "title": "Unauthorized", "message": "bad"})

    source = ThandSource(
        "http://thand.test/api/v1", token="tok-xyz", auth="api-key",
        transport=httpx.MockTransport(answer),
    )  # fmt: skip
    with pytest.raises(SourceUnauthorized) as refused:
        await source.list()
    assert seen[0].headers["x-api-key"] == "tok-xyz" and "authorization" not in seen[0].headers
    assert "tok-xyz" not in str(refused.value) and "tok-xyz" not in repr(source)


async def test_unknown_execution_is_not_found() -> None:
    source = source_answering({}, [])
    with pytest.raises(SourceNotFound):
        await source.snapshot("nope")


async def test_signal_is_sent_encoded_as_thand_decodes_it() -> None:
    seen: list[httpx.Request] = []
    source = source_answering({"/api/v1/execution/wf-1/signal": {"message": "ok"}}, seen)
    await source.signal("wf-1", "approve", {"by": "ana"})
    encoded = seen[0].url.params["input"]
    wrapper = json.loads(zlib.decompress(base64.b64decode(encoded)))
    assert wrapper["type"] == "workflow_signal"
    assert wrapper["data"]["type"] == "approve" and wrapper["data"]["data"] == {"by": "ana"}
    await source.signal("wf-1", "approve", "pre-encoded-by-thand")  # passed through as is
    assert seen[1].url.params["input"] == "pre-encoded-by-thand"
    assert encode_signal("x") != encode_signal("x")  # each CloudEvent has its own id


def test_statuses_in_both_forms() -> None:
    assert thand_status("WAITING") is S.AWAITING_INPUT
    assert thand_status("running") is S.RUNNING
    assert thand_status("CONTINUEDASNEW") is S.CONTINUED_AS_NEW
    assert thand_status("TIMEDOUT") is S.TIMED_OUT and thand_status("timed_out") is S.TIMED_OUT
    assert thand_status("FAULTED") is S.FAILED and thand_status("CANCELED") is S.CANCELLED


async def test_error_body_message_reaches_the_user() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"code": 403, "title": "Forbidden", "message": "not the owner"}
        return httpx.Response(403, json=body)

    source = ThandSource("http://thand.invalid/api/v1", transport=httpx.MockTransport(answer))
    with pytest.raises(SourceUnauthorized, match="not the owner"):
        await source.cancel("x")
