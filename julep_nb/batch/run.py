"""Run a Julep task over a whole dataset: ``run_many``.

Usage::

    batch = await julep_nb.run_many(task, df, concurrency=16)   # returns at once
    show_batch(batch)                      # julep_nb.display.batch_panel: one live panel
    states = await batch                   # final states, in input order
    batch.to_dataframe()                   # inputs, status, output columns, error, ...
    again = await batch.retry_failed()     # a new batch over the failed and cancelled

Each input becomes one execution, created under an ``Idempotency-Key`` made of the
batch's id and the input's position: a creation retried after a timeout, a 429 or a
server restart returns the execution the first attempt made, never a second one. The
executions carry ``metadata.julep_nb_batch`` and ``julep_nb_row``, so they can be
found again from the server. Against julep_nb's embedded server the creations asked
for together go in one bulk request (:mod:`julep_nb.batch.bulk`); against Julep, one
request each.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any, Final, Protocol

from julep_nb.batch.bulk import BulkCreator
from julep_nb.batch.follow import ListFollower
from julep_nb.connect import default_client
from julep_nb.live.batch.handle import BatchHandle
from julep_nb.live.batch.inputs import normalize_inputs
from julep_nb.live.errors import SourceUnreachable
from julep_nb.live.state import ExecutionState, reduce
from julep_nb.sources.julep.client import BULK_CREATE, Client
from julep_nb.sources.julep.models import Agent, Execution, Task

__all__ = ["CREATE_DEADLINE", "run_many"]

CREATE_DEADLINE: Final = 120.0
"""Seconds a creation keeps being retried while the service is unreachable or busy."""
CREATE_BACKOFF: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
CREATES_IN_FLIGHT: Final = 4
"""Creation requests on the wire at once. A server handles them one after another, and
httpcore rescans every pooled connection on each event: a few connections keep the
server busy at a fraction of the client's CPU (see docs/performance.md, batches).
A bulk creator sends one request at a time, whatever its size."""


class _Creates(Protocol):
    async def create_execution(
        self,
        task_id: str,
        input: Mapping[str, Any],
        *,
        metadata: Mapping[str, Any] | None = ...,
        idempotency_key: str | None = ...,
    ) -> Execution: ...


async def run_many(
    task: str | Task,
    inputs: Any,
    *,
    client: Client | None = None,
    concurrency: int = 16,
    metadata: Mapping[str, Any] | None = None,
    agent: str | Agent | None = None,
    common: Mapping[str, Any] | None = None,
) -> BatchHandle:
    """Start one execution of ``task`` per input; returns a started :class:`BatchHandle`.

    ``task``: a task id, a :class:`Task`, or a task's name together with ``agent`` (an
    agent or its id) whose tasks are searched. ``inputs``: a list (or any iterable) of
    dicts, or a pandas DataFrame (one row per execution). At most ``concurrency``
    executions are in flight; one that awaits input frees its slot. ``common``: fields
    added to every input (an input's own value wins), e.g. a magic's cell body.
    """
    chosen = client if client is not None else default_client()
    task_id = await _task_id(chosen, task, agent)
    rows, columns = normalize_inputs(inputs, common=common)
    bulk = await chosen.offers(BULK_CREATE)
    batch = _batch(
        chosen, task_id, rows, columns, concurrency=concurrency, metadata=metadata, bulk=bulk
    )
    return batch.start()


def _batch(
    client: Client,
    task_id: str,
    rows: list[dict[str, Any]],
    columns: list[str],
    *,
    concurrency: int,
    metadata: Mapping[str, Any] | None,
    bulk: bool = False,
) -> BatchHandle:
    """An unstarted batch of ``task_id`` over ``rows`` (its own id, so its own keys).

    ``bulk``: the server offers julep_nb's bulk create (see :mod:`julep_nb.batch.bulk`).
    """
    batch_id = uuid.uuid4().hex
    creator = BulkCreator(client, task_id) if bulk else None
    gates: list[asyncio.Semaphore] = []  # made on the loop that runs the batch

    async def start(index: int, row: Mapping[str, Any]) -> ExecutionState:
        extra = {**(metadata or {}), "julep_nb_batch": batch_id, "julep_nb_row": index}
        key = f"julep_nb-{batch_id}-{index}"
        if creator is not None:
            return reduce(None, await _create(creator, task_id, row, extra, key))
        if not gates:
            gates.append(asyncio.Semaphore(min(concurrency, CREATES_IN_FLIGHT)))
        async with gates[0]:
            return reduce(None, await _create(client, task_id, row, extra, key))

    def again(subset: list[dict[str, Any]], same_columns: list[str]) -> BatchHandle:
        return _batch(
            client, task_id, subset, same_columns, concurrency=concurrency, metadata=metadata,
            bulk=bulk,
        )  # fmt: skip

    return BatchHandle(
        rows,
        start=start,
        follower=ListFollower(client, task_id),
        columns=columns,
        concurrency=concurrency,
        again=again,
        name=task_id,
    )


async def _create(
    client: _Creates, task_id: str, row: Mapping[str, Any], metadata: dict[str, Any], key: str
) -> Execution:
    """Create the execution, retrying (same key) while the service is busy or away.

    The client already retries a few times; a batch outlasts longer outages (a server
    restart, a rate limit that lasts) up to :data:`CREATE_DEADLINE`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CREATE_DEADLINE
    attempt = 0
    while True:
        try:
            return await client.create_execution(
                task_id, row, metadata=metadata, idempotency_key=key
            )
        except SourceUnreachable:  # unreachable, 429, 5xx: the same key is safe to resend
            delay = CREATE_BACKOFF[min(attempt, len(CREATE_BACKOFF) - 1)]
            if loop.time() + delay > deadline:
                raise
            attempt += 1
            await asyncio.sleep(delay)


async def _task_id(client: Client, task: str | Task, agent: str | Agent | None) -> str:
    """The id of ``task``: a :class:`Task`'s, an id as given, or a name looked up."""
    if isinstance(task, Task):
        return task.id
    if not isinstance(task, str) or not task:
        raise TypeError(f"task must be a task id, a Task or a task name, not {task!r}")
    if agent is None:
        return task
    agent_id = agent.id if isinstance(agent, Agent) else agent
    tasks = await client.list_tasks(agent_id)
    for found in tasks:
        if task in (found.id, found.name):
            return found.id
    names = ", ".join(sorted(repr(t.name) for t in tasks)) or "none"
    raise ValueError(
        f"agent {agent_id} has no task named {task!r} (its tasks: {names}): "
        "pass the task's id, or create the task first"
    )
