"""Many creations in one request: a batch's executions, against julep_nb's embedded server.

Through httpx, one request costs the client about as much CPU as the embedded
server spends on a whole short execution, and in a notebook both share one GIL, so
a batch that creates its executions one request each runs at about half the
server's rate (docs/performance.md, batches). Where the server offers julep_nb's bulk
create (``POST /julep_nb/tasks/{id}/executions/bulk``, see
:meth:`~julep_nb.sources.julep.client.Client.offers`), :class:`BulkCreator` gathers
the creations asked for in one turn of the loop, and those asked for while its
previous request is on the wire, into one request. Each keeps its own idempotency
key, so a request retried after a timeout or a server restart makes nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import ValidationError
from julep_nb.sources.julep.models import Execution
from julep_nb.sources.julep.requests import MAX_BULK_ITEMS, NewExecution

__all__ = ["BulkCreator"]


@dataclass
class _Ask:
    item: NewExecution
    made: asyncio.Future[Execution]


class BulkCreator:
    """Creates executions of one task in bulk: ``await creator.create_execution(...)``."""

    def __init__(self, client: Client, task_id: str) -> None:
        self.client = client
        self.task_id = task_id
        self.requests = 0  # bulk requests sent, for benchmarks and tests
        self._asks: list[_Ask] = []
        self._sender: asyncio.Task[None] | None = None

    async def create_execution(
        self,
        task_id: str,
        input: Mapping[str, Any],
        *,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """As :meth:`Client.create_execution`, sent with the other creations asked for now."""
        if task_id != self.task_id:
            raise ValueError(f"this creator makes executions of task {self.task_id}, not {task_id}")
        item = NewExecution(
            input=dict(input),
            metadata=None if metadata is None else dict(metadata),
            idempotency_key=idempotency_key,
        )
        loop = asyncio.get_running_loop()
        ask = _Ask(item, loop.create_future())
        self._asks.append(ask)
        if self._sender is None or self._sender.done():
            # Runs after what is ready now: the other creations of this loop turn join in.
            self._sender = loop.create_task(self._send_all(), name=f"julep_nb bulk {self.task_id}")
        return await ask.made

    async def _send_all(self) -> None:
        while self._asks:
            asks = [a for a in self._asks[:MAX_BULK_ITEMS] if not a.made.done()]
            del self._asks[:MAX_BULK_ITEMS]
            if asks:
                await self._send(asks)

    async def _send(self, asks: list[_Ask]) -> None:
        self.requests += 1
        try:
            made = await self.client.create_executions(self.task_id, [a.item for a in asks])
        except Exception as exc:
            if isinstance(exc, ValidationError) or getattr(exc, "status", None) == 413:
                # A bad (or huge) item refuses them all: each alone, so it fails alone.
                await asyncio.gather(*(self._one(a) for a in asks))
                return
            for ask in asks:  # unreachable, busy, unknown task: every ask hears it
                _settle(ask, exc=exc)
        else:
            for ask, execution in zip(asks, made, strict=True):
                _settle(ask, execution)

    async def _one(self, ask: _Ask) -> None:
        item = ask.item
        try:
            execution = await self.client.create_execution(
                self.task_id, item.input, metadata=item.metadata,
                idempotency_key=item.idempotency_key,
            )  # fmt: skip
        except Exception as exc:
            _settle(ask, exc=exc)
        else:
            _settle(ask, execution)


def _settle(ask: _Ask, execution: Execution | None = None, *, exc: Exception | None = None) -> None:
    if ask.made.done():  # its creation was cancelled meanwhile
        return
    if exc is not None:
        ask.made.set_exception(exc)
    elif execution is not None:
        ask.made.set_result(execution)
