"""TemporalSource against a real dev server: the notebook's scenarios, chains, children, errors."""

from __future__ import annotations

import pytest

pytest.importorskip("temporalio", reason="temporalio is not installed: pip install -e '.[dev]'")

import asyncio

import pytest

import julep_nb
from julep_nb.live.errors import ActionRefused, SourceNotFound, SourceUnreachable
from julep_nb.live.events import Capability, ExecutionStatus
from julep_nb.sources.temporal import TemporalSource, execution_id
from julep_nb.sources.temporal.devserver import free_port
from tests.sources.temporal import workflows
from tests.sources.temporal.conftest import new_id

S = ExecutionStatus
pytestmark = pytest.mark.usefixtures("worker")


def kinds(state) -> list[tuple[str, str]]:
    return [(row.entry.kind, row.label) for row in state.timeline()]


async def eventually(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_capabilities_and_repr_hide_nothing_secret(source: TemporalSource) -> None:
    assert source.capabilities == {
        Capability.CANCEL,
        Capability.TERMINATE,
        Capability.SIGNAL,
        Capability.QUERY,
    }
    assert source.target in repr(source)


async def test_hello_timeline_has_no_workflow_task_noise(source, task_queue) -> None:
    handle = await source.start_workflow(
        workflows.Hello.run, "otter", id=new_id("hello"), task_queue=task_queue
    )
    state = await asyncio.wait_for(handle, 30)
    assert state.status is S.SUCCEEDED
    assert state.output == "hello otter"
    assert kinds(state) == [
        ("workflow", "started"),
        ("activity", "greet"),
        ("workflow", "completed"),
    ]
    activity = state.timeline()[1].entry
    assert activity.status is S.SUCCEEDED and activity.output == "hello otter"
    assert activity.attempt == 1
    assert state.name == "Hello" and state.input == "otter"
    assert handle.watcher.strategy == "history-long-poll"


async def test_approval_answered_by_a_signal(source, task_queue) -> None:
    handle = await source.start_workflow(
        workflows.Approval.run, "deploy", id=new_id("approval"), task_queue=task_queue
    )
    # The signal and query names come from the workflow's own metadata query.
    await eventually(lambda: handle.state.signals == ("approve", "reject"))
    assert handle.state.queries == ("status",)
    assert handle.status is S.RUNNING
    assert await handle.query("status") == "waiting"
    await handle.signal("approve", {"by": "ana"})
    state = await asyncio.wait_for(handle, 30)
    assert state.status is S.SUCCEEDED
    assert state.output == {"request": "deploy", "approved": True, "by": "ana"}
    signal = next(r.entry for r in state.timeline() if r.entry.kind == "signal")
    assert signal.label == "approve" and signal.output == {"by": "ana"}
    assert ("timer", "timer 0.05 s") in kinds(state)


async def test_retried_activity_shows_attempts_while_running_and_after(source, task_queue) -> None:
    handle = await source.start_workflow(
        workflows.Retrying.run, 3, id=new_id("retry"), task_queue=task_queue
    )
    seen_running: list[tuple[int | None, str | None]] = []
    handle.subscribe(
        lambda s: seen_running.extend((e.attempt, e.error) for e in s.running if e.label == "flaky")
    )
    state = await asyncio.wait_for(handle, 30)
    assert state.status is S.SUCCEEDED and state.output == "ok on attempt 3"
    row = next(r.entry for r in state.timeline() if r.entry.kind == "activity")
    assert row.attempt == 3 and row.error is None
    assert "attempt 2 failed" in (row.note or "")
    assert any(attempt and attempt >= 2 and error for attempt, error in seen_running)
    assert state.running == ()


async def test_failing_activity_fails_the_workflow_with_its_reason(source, task_queue) -> None:
    handle = await source.start_workflow(
        workflows.Retrying.run, 0, id=new_id("fail"), task_queue=task_queue
    )
    state = await asyncio.wait_for(handle, 30)
    assert state.status is S.FAILED
    assert "attempt 3 failed" in state.error
    row = next(r.entry for r in state.timeline() if r.entry.kind == "activity")
    assert row.status is S.FAILED and row.attempt == 3
    assert kinds(state)[-1] == ("workflow", "failed")


async def test_cancel_is_graceful_and_terminate_keeps_its_reason(source, task_queue) -> None:
    cancelled = await source.start_workflow(
        workflows.Sleeper.run, 30, id=new_id("cancel"), task_queue=task_queue
    )
    terminated = await source.start_workflow(
        workflows.Sleeper.run, 30, id=new_id("terminate"), task_queue=task_queue
    )
    await eventually(lambda: bool(cancelled.state.running) and bool(terminated.state.running))
    assert cancelled.state.running[0].label == "slow"
    await cancelled.cancel(reason="no longer needed")
    await terminated.terminate(reason="enough for today")
    first, second = await asyncio.wait_for(asyncio.gather(cancelled, terminated), 30)
    assert first.status is S.CANCELLED
    assert ("cancel_request", "cancel requested") in kinds(first)
    request = next(r.entry for r in first.timeline() if r.entry.kind == "cancel_request")
    assert request.note == "no longer needed"  # the reason is kept in the history
    assert second.status is S.TERMINATED and second.error == "enough for today"
    with pytest.raises(ActionRefused):
        await terminated.terminate(reason="again")


async def test_continue_as_new_is_followed_by_workflow_id(source, task_queue) -> None:
    workflow_id = new_id("counter")
    first = await source.client.start_workflow(
        workflows.Counter.run, args=[0, 2], id=workflow_id, task_queue=task_queue
    )
    chain = julep_nb.watch(workflow_id, source=source)
    pinned = source.watch(workflow_id, first.first_execution_run_id)
    whole, one = await asyncio.wait_for(asyncio.gather(chain, pinned), 30)
    assert whole.status is S.SUCCEEDED and whole.output == 2
    labels = [label for kind, label in kinds(whole) if kind == "activity"]
    assert labels == ["greet", "greet", "greet"]
    assert [r.entry.output for r in whole.timeline() if r.entry.kind == "activity"] == [
        "hello run 0",
        "hello run 1",
        "hello run 2",
    ]
    assert one.status is S.CONTINUED_AS_NEW and one.next_run
    assert one.next_run != first.first_execution_run_id
    assert pinned.id == execution_id(workflow_id, first.first_execution_run_id)


async def test_child_workflow_is_one_row(source, task_queue) -> None:
    handle = await source.start_workflow(
        workflows.Parent.run, "kid", id=new_id("parent"), task_queue=task_queue
    )
    state = await asyncio.wait_for(handle, 30)
    child = [r.entry for r in state.timeline() if r.entry.kind == "child_workflow"]
    assert len(child) == 1 and child[0].label == "Hello" and child[0].output == "hello kid"
    assert state.output == "parent got hello kid"


async def test_hundred_workflows_watched_at_once(source, task_queue) -> None:
    handles = [
        await source.start_workflow(
            workflows.Hello.run, str(i), id=new_id(f"many{i}"), task_queue=task_queue
        )
        for i in range(100)
    ]
    states = await asyncio.wait_for(asyncio.gather(*handles), 90)
    assert [s.status for s in states] == [S.SUCCEEDED] * 100
    assert sorted(s.output for s in states) == sorted(f"hello {i}" for i in range(100))


async def test_list_renders_a_table_with_badges(source, task_queue) -> None:
    workflow_id = new_id("listed<b>")
    handle = await source.start_workflow(
        workflows.Hello.run, "x", id=workflow_id, task_queue=task_queue
    )
    await handle
    # Visibility is eventually consistent: the listing catches up with the end.
    async with asyncio.timeout(10):
        while True:
            listed = await source.list(f"WorkflowId = '{workflow_id}'")
            if [s.status for s in listed] == [S.SUCCEEDED]:
                break
            await asyncio.sleep(0.1)
    assert [(s.id, s.status, s.name) for s in listed] == [(workflow_id, S.SUCCEEDED, "Hello")]
    html = listed._repr_html_()
    assert "listed&lt;b&gt;" in html and "<b>" not in html
    assert "succeeded" in html and workflow_id in repr(listed)
    assert len(await source.list(limit=1)) == 1


async def test_unknown_workflow_is_not_found(source) -> None:
    handle = julep_nb.watch(new_id("nobody"), source=source)
    with pytest.raises(SourceNotFound):
        await asyncio.wait_for(handle, 10)


async def test_wrong_namespace_names_it(temporal_server) -> None:
    with pytest.raises(SourceNotFound, match="no-such-ns"):
        await TemporalSource.connect(temporal_server.target, namespace="no-such-ns")


async def test_unreachable_target_names_it() -> None:
    target = f"127.0.0.1:{free_port()}"
    with pytest.raises(SourceUnreachable, match=target):
        await asyncio.wait_for(TemporalSource.connect(target), 60)


async def test_temporal_url_connects_to_the_namespace(temporal_server) -> None:
    from julep_nb.sources.urls import source_from_url

    source = await source_from_url(f"temporal://{temporal_server.target}/default")
    assert isinstance(source, TemporalSource) and source.namespace == "default"
    with pytest.raises(SourceNotFound, match="elsewhere"):
        await source_from_url(f"temporal://{temporal_server.target}/elsewhere")


async def test_api_key_is_never_shown(temporal_server) -> None:
    key = "tc-secret-api-key-1234"
    source = await TemporalSource.connect(temporal_server.target, api_key=key, tls=False)
    assert key not in repr(source)
    target = f"127.0.0.1:{free_port()}"
    with pytest.raises(SourceUnreachable) as failed:
        await asyncio.wait_for(TemporalSource.connect(target, api_key=key, tls=False), 60)
    assert key not in str(failed.value) and key not in repr(failed.value)
