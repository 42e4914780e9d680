"""A loopback TCP proxy that breaks connections on purpose, within a fault budget.

:class:`ChaosProxy` forwards bytes between a client and a real server, and on the
way back (server → client) it may, at random points chosen by a seeded RNG:

- **cut** the connection after a random prefix of a chunk (so an SSE event or a
  JSON body arrives half-written), closing both sides;
- **reset** it (``SO_LINGER 0``: the client sees ``ECONNRESET``);
- **delay** bytes, dribbling a chunk in small pieces with short sleeps.

Every fault spends one unit of ``max_faults``; once the budget is spent the proxy
only forwards, so anything that retries is guaranteed to converge. Everything is
bounded (no endless loops) and the ``async with`` block closes every connection::

    async with ChaosProxy(port, seed=1, cut=0.05, max_faults=200) as proxy:
        client = Client(base_url=proxy.base_url)
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from typing import Final

from tests.faults import LoopbackServer

__all__ = ["ChaosProxy"]

CHUNK: Final = 16 * 1024
DRIBBLE_PIECES: Final = 4


class ChaosProxy(LoopbackServer):
    """Forward ``127.0.0.1:<ephemeral>`` to ``127.0.0.1:target_port`` with injected faults."""

    def __init__(
        self,
        target_port: int,
        *,
        seed: int = 0,
        cut: float = 0.0,
        reset: float = 0.0,
        delay: float = 0.0,
        max_delay: float = 0.01,
        max_faults: int = 100,
    ) -> None:
        super().__init__()
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.cut, self.reset, self.delay, self.max_delay = cut, reset, delay, max_delay
        self.max_faults = max_faults
        self.faults = {"cut": 0, "reset": 0, "delay": 0}
        self.connections = 0
        self.enabled = True

    @property
    def spent(self) -> int:
        """Faults injected so far (cuts, resets and delays)."""
        return sum(self.faults.values())

    def _roll(self, kind: str, probability: float) -> bool:
        if not self.enabled or probability <= 0 or self.spent >= self.max_faults:
            return False
        if self.rng.random() >= probability:
            return False
        self.faults[kind] += 1
        return True

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _abort(writer)  # the server is down: the client sees a reset, as it would
            return
        upstream = asyncio.ensure_future(_pipe(reader, up_writer, None))
        downstream = asyncio.ensure_future(_pipe(up_reader, writer, self))
        try:
            await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the proxy is closing; end quietly (asyncio logs a cancelled handler)
        finally:
            for part in (upstream, downstream):
                part.cancel()
            await asyncio.gather(upstream, downstream, return_exceptions=True)
            for w in (writer, up_writer):
                w.close()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chaos: ChaosProxy | None
) -> None:
    """Copy until EOF; with ``chaos``, maybe cut, reset or dribble each chunk."""
    try:
        while data := await reader.read(CHUNK):
            if chaos is not None and chaos._roll("reset", chaos.reset):
                _abort(writer)
                return
            if chaos is not None and chaos._roll("cut", chaos.cut):
                writer.write(data[: chaos.rng.randrange(len(data))])
                await writer.drain()
                writer.close()
                return
            if chaos is not None and chaos._roll("delay", chaos.delay):
                step = max(1, len(data) // DRIBBLE_PIECES)
                for start in range(0, len(data), step):
                    writer.write(data[start : start + step])
                    await writer.drain()
                    await asyncio.sleep(chaos.rng.uniform(0, chaos.max_delay))
                continue
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        return


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
