"""The pure, incremental Server-Sent Events decoder: bytes in, events out, no I/O.

Spec references are to https://html.spec.whatwg.org/multipage/server-sent-events.html.
"""

from __future__ import annotations

import codecs

from httpx_sse import ServerSentEvent

__all__ = ["SSEParser", "ServerSentEvent"]


class SSEParser:
    """Pure, incremental SSE parsing: bytes in, dispatched events out, no I/O.

    Follows the spec's "event stream interpretation" (9.2.6) and yields httpx-sse's
    public :class:`ServerSentEvent`. httpx-sse's own decoders are private, differ
    between 0.4.0 and 0.4.3, and cost one Python call per line; parsing a whole
    read in one loop is what keeps this reader ahead of httpx-sse and the SDK.
    """

    __slots__ = ("_buffer", "_cr", "_data", "_event", "_last_id", "_text", "retry")

    def __init__(self, last_event_id: str | None = None) -> None:
        self.retry: float | None = None  # the server's ``retry:``, in seconds
        self.reset(last_event_id)

    def reset(self, last_event_id: str | None) -> None:
        """Start a new connection's stream; ``retry`` and the last event ID carry over."""
        # Spec: always UTF-8, and one leading U+FEFF is ignored ("utf-8-sig").
        self._text = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._buffer = ""  # a line not yet terminated
        self._cr = False  # the last read ended in CR: a LF may follow
        # Spec: a half-received event is discarded when the connection ends.
        self._data: list[str] = []
        self._event = ""
        self._last_id = last_event_id or ""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Events completed by ``chunk``."""
        text = self._text.decode(chunk)
        if self._cr:
            text = "\r" + text
            self._cr = False
        if "\r" in text:
            # Spec: lines end in CRLF, LF or CR; a CR at the end of a read may be
            # the first half of a CRLF, so it waits for the next read.
            if text.endswith("\r"):
                self._cr, text = True, text[:-1]
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = (self._buffer + text).split("\n")
        self._buffer = lines.pop()
        return self._interpret(lines)

    def close(self) -> list[ServerSentEvent]:
        """Events completed by the end of the stream (a held-back CR ends a line)."""
        lines = [self._buffer] if self._cr else []
        self._buffer, self._cr = "", False
        return self._interpret(lines)

    def _interpret(self, lines: list[str]) -> list[ServerSentEvent]:
        events = []
        data, event, last_id = self._data, self._event, self._last_id
        for line in lines:
            if not line:
                # Spec: a blank line dispatches, but only when there is data; this
                # is also why a ": ping" after an ``id:`` line yields nothing here
                # (httpx-sse 0.4.3 yields an empty "phantom" event for it).
                if data:
                    text = "\n".join(data)
                    if text:
                        events.append(ServerSentEvent(event, text, last_id))
                    data = []
                event = ""
                continue
            if line[0] == ":":
                continue  # a comment: keep-alive pings
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "id":
                # Spec: the id persists across events and reconnects; an empty
                # ``id:`` resets it; an id containing NUL is ignored.
                if "\0" not in value:
                    last_id = value
            elif name == "event":
                event = value
            elif name == "retry" and value.isascii() and value.isdigit():
                self.retry = int(value) / 1000
        self._data, self._event, self._last_id = data, event, last_id
        return events
