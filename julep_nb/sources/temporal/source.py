"""Temporal workflows as a live :class:`~julep_nb.live.source.ExecutionSource`.

Usage::

    source = await TemporalSource.connect(target="127.0.0.1:7233", namespace="default")
    await source.list("WorkflowType = 'Approval'")          # a table in a notebook
    handle = await source.start_workflow(Approval.run, "req", id="a-1", task_queue="q")
    handle = julep_nb.watch("a-1", source=source)          # or source.watch("a-1", run_id)
    await handle.signal("approve", {"by": "me"}); await handle.terminate(reason="…")

See :mod:`~julep_nb.sources.temporal.reading` for ids and cursors,
:mod:`~julep_nb.sources.temporal.history` for the timeline, and
:mod:`~julep_nb.sources.temporal.stream` for the live stream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

from julep_nb.live.errors import ActionRefused, SourceNotFound, SourceUnreachable
from julep_nb.live.events import Capability, ExecutionStatus, StatusReport
from julep_nb.live.handle import ExecutionHandle
from julep_nb.live.source import Snapshot, SourceBase
from julep_nb.sources.summaries import ExecutionSummaries, ExecutionSummary
from julep_nb.sources.temporal.errors import map_rpc_error, rpc_errors
from julep_nb.sources.temporal.history import SOURCE
from julep_nb.sources.temporal.reading import (
    STATUSES,
    cursor_of,
    describe_report,
    execution_id,
    handle_for,
    parse_execution_id,
    read_run,
    running_entries,
)
from julep_nb.sources.temporal.stream import HistoryStream

__all__ = ["TemporalSource"]

LIST_PAGE: Final = 100


class TemporalSource(SourceBase):
    """Temporal workflows: list, start, watch, cancel, terminate, signal, query."""

    name = SOURCE
    filterable = True  # visibility queries
    capabilities = frozenset(
        {Capability.CANCEL, Capability.TERMINATE, Capability.SIGNAL, Capability.QUERY}
    )

    def __init__(self, client: Client) -> None:
        self.client = client

    def __repr__(self) -> str:  # the API key lives in the client's config: never shown
        return f"TemporalSource(target={self.target!r}, namespace={self.namespace!r})"

    @property
    def namespace(self) -> str:
        return self.client.namespace

    @property
    def target(self) -> str:
        return str(self.client.service_client.config.target_host)

    @classmethod
    async def connect(
        cls,
        target: str = "127.0.0.1:7233",
        *,
        namespace: str = "default",
        api_key: str | None = None,
        tls: bool | None = None,
        **client_options: Any,
    ) -> TemporalSource:
        """Connect and check the namespace.

        ``api_key`` is sent the SDK's way (a bearer token); with a key, TLS is on unless
        ``tls=False`` (Temporal Cloud needs both). The key is never shown.
        """
        try:
            client = await Client.connect(
                target, namespace=namespace, api_key=api_key, tls=tls, **client_options
            )
        except RPCError as exc:
            raise map_rpc_error(exc, f"connect to {target}") from exc
        except RuntimeError as exc:  # the SDK's "Failed client connect"
            raise SourceUnreachable(
                f"Could not connect to Temporal at {target!r}: is the server running there "
                "(temporal server start-dev, or julep_nb.sources.temporal.start_dev_server())?"
            ) from exc
        source = cls(client)
        await source.check_namespace()
        return source

    async def check_namespace(self) -> None:
        """Raise :class:`SourceNotFound` naming the namespace when the server has none such."""
        request = DescribeNamespaceRequest(namespace=self.namespace)
        try:
            await self.client.workflow_service.describe_namespace(request)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise SourceNotFound(
                    f"Temporal at {self.target!r} has no namespace {self.namespace!r}: pick an "
                    "existing one (temporal operator namespace list) or create it."
                ) from exc
            raise map_rpc_error(exc, f"describe namespace {self.namespace!r}") from exc

    # ------------------------------------------------------------------ listing, starting

    async def list(self, query: str | None = None, *, limit: int = 100) -> ExecutionSummaries:
        """Workflows matching a visibility ``query`` (newest first), at most ``limit``."""
        items: list[ExecutionSummary] = []
        with rpc_errors(f"list workflows in namespace {self.namespace!r}"):
            async for wf in self.client.list_workflows(
                query, limit=limit, page_size=min(limit, LIST_PAGE) or LIST_PAGE
            ):
                status = STATUSES.get(wf.status) if wf.status else None
                items.append(
                    ExecutionSummary(
                        id=wf.id, status=status or ExecutionStatus.RUNNING,
                        name=wf.workflow_type, started_at=wf.start_time,
                        closed_at=wf.close_time, run_id=wf.run_id,
                        detail=f"queue {wf.task_queue}",
                    )
                )  # fmt: skip
        return ExecutionSummaries(items, source=SOURCE)

    async def start_workflow(
        self,
        workflow: Any,
        *args: Any,
        id: str,
        task_queue: str,
        key: str | None = None,
        **options: Any,
    ) -> ExecutionHandle:
        """Start a workflow (as ``Client.start_workflow`` does) and return a watching handle."""
        with rpc_errors(f"start workflow {id!r}"):
            started = await self.client.start_workflow(
                workflow, args=list(args), id=id, task_queue=task_queue, **options
            )
        handle = ExecutionHandle(started.id, source=self, key=key)
        handle.start()
        return handle

    def watch(
        self, workflow_id: str, run_id: str | None = None, *, key: str | None = None
    ) -> ExecutionHandle:
        """A handle on a workflow (its chain of runs) or on one run; watching starts now."""
        handle = ExecutionHandle(execution_id(workflow_id, run_id), source=self, key=key)
        handle.start()
        return handle

    # ------------------------------------------------------------------ reading

    async def snapshot(self, execution_id: str, *, cursor: Any = None) -> Snapshot:
        """The workflow now: its description, the history past the cursor, what runs."""
        ref = parse_execution_id(execution_id)
        events, new_cursor, mapper, description = await read_run(
            self.client, execution_id, ref, cursor_of(cursor)
        )
        report = describe_report(execution_id, description, chain=ref.follows_chain)
        running = StatusReport(
            execution_id=execution_id, status=report.status, source=SOURCE,
            running=running_entries(mapper, description.raw_description.pending_activities)
            if mapper.closed is None
            else (),
        )  # fmt: skip
        return Snapshot((report, *events, running), new_cursor)

    poll = snapshot  # one describe and one history read is one poll's worth

    def follow(self, execution_id: str, *, cursor: Any = None) -> HistoryStream:
        ref = parse_execution_id(execution_id)
        return HistoryStream(self.client, execution_id, ref, cursor_of(cursor))

    # ------------------------------------------------------------------ actions

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        """Ask the workflow to cancel: it may catch it and clean up (ends ``cancelled``).

        ``reason`` is recorded with the request (the cancel-request row shows it).
        """
        await self._act(execution_id, "cancel", lambda h: h.cancel(reason=reason or ""))

    async def terminate(self, execution_id: str, *, reason: str | None = None) -> None:
        """End the workflow at once (``terminated``, with the reason in its history)."""
        await self._act(execution_id, "terminate", lambda h: h.terminate(reason=reason))

    async def signal(self, execution_id: str, name: str, payload: Any = None) -> None:
        """Send the signal ``name`` with ``payload`` (no argument when None)."""
        args = [] if payload is None else [payload]
        await self._act(execution_id, f"signal {name!r} to", lambda h: h.signal(name, args=args))

    async def _act(
        self, execution_id: str, verb: str, action: Callable[[Any], Awaitable[Any]]
    ) -> None:
        ref = parse_execution_id(execution_id)
        handle = handle_for(self.client, ref, None)
        try:
            await action(handle)
        except RPCError as exc:
            error = map_rpc_error(exc, f"{verb} workflow {ref.workflow_id!r}")
            if isinstance(error, SourceNotFound):
                # Temporal says "not found" for a workflow that exists but has closed.
                closed = await self._closed_status(handle)
                if closed is not None:
                    raise ActionRefused(
                        f"Workflow {ref.workflow_id!r} is {closed.value}: cannot {verb.split()[0]} "
                        "it any more."
                    ) from exc
            raise error from exc

    async def _closed_status(self, handle: Any) -> ExecutionStatus | None:
        try:
            description = await handle.describe()
        except RPCError:
            return None
        status = STATUSES.get(description.status) if description.status else None
        return status if status is not None and status.is_terminal else None

    async def query(self, execution_id: str, name: str, *args: Any) -> Any:
        """Ask the workflow's query ``name`` (needs a worker for its task queue)."""
        ref = parse_execution_id(execution_id)
        try:
            with rpc_errors(f"query {name!r} of workflow {ref.workflow_id!r}"):
                return await handle_for(self.client, ref, None).query(name, args=list(args))
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
            raise ActionRefused(
                f"workflow {ref.workflow_id!r} refused query {name!r}: {exc}"
            ) from exc
