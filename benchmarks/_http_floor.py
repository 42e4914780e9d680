"""The HTTP floor: a bare ASGI app that answers the benchmark's requests without work.

``bench_local_server`` drives it with the same minimal client as ``julep-nb serve``
(create an execution, read its ``status.stream``, 16 at a time), on the same uvicorn
(httptools, uvloop when installed) in a process of its own:
``python -m benchmarks._http_floor PORT``. Its executions/s is what uvicorn and the
loopback sockets of this machine allow when the server does nothing else, measured
side by side with the server, so the server's rate can be read against the machine's
speed of the moment (which swings by 1.5x here within the hour).
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

__all__ = ["app"]

_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_ENDED = b'id: 1\nevent: status\ndata: {"execution_id":"e","status":"succeeded"}\n\n'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers the requests the benchmark sends, each with a constant body."""
    more = True
    while more:  # the request's body, read as the server reads it
        more = (await receive()).get("more_body", False)
    path: str = scope["path"]
    if path.endswith("/status.stream"):
        status, headers, body = 200, _SSE, _ENDED
    elif scope["method"] == "POST":
        status, headers, body = 201, _JSON, b'{"id":"e","status":"queued"}'
    else:
        status, headers, body = 200, _JSON, b'{"status":"ok"}'
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + length})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(
        app,
        port=int(sys.argv[1]),
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
