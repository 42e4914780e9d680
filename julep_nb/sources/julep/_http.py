"""HTTP helpers shared by the client and the SSE reader: error bodies, Retry-After, redaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar

import httpx
import pydantic

from julep_nb.sources.julep.config import redact
from julep_nb.sources.julep.errors import APIError, error_for_status
from julep_nb.sources.julep.models import utcnow

__all__ = [
    "ERROR_BODY_BYTES",
    "MAX_RETRY_AFTER",
    "SNIPPET_CHARS",
    "body_json",
    "first_error",
    "http_error",
    "parse_model",
    "read_limited",
    "retry_after",
    "secret_from_headers",
]

MAX_RETRY_AFTER: Final = 60.0  # never sleep longer than this on a server's say-so
SNIPPET_CHARS: Final = 200
ERROR_BODY_BYTES: Final = 64 * 1024

M = TypeVar("M", bound=pydantic.BaseModel)


def secret_from_headers(*headers: Mapping[str, str]) -> str | None:
    """The API key carried by ``Authorization: Bearer`` or ``X-Auth-Key``, to redact it."""
    for mapping in headers:
        lowered = {k.lower(): v for k, v in mapping.items()}
        auth = lowered.get("authorization", "")
        if auth.lower().startswith("bearer ") and auth[7:].strip():
            return auth[7:].strip()
        if lowered.get("x-auth-key"):
            return lowered["x-auth-key"]
    return None


async def read_limited(response: httpx.Response, limit: int) -> bytes:
    """At most about ``limit`` bytes of a streamed body (an error page may be huge)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds a ``Retry-After`` header asks for (number or HTTP date), if any."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max((moment - utcnow()).total_seconds(), 0.0)


def http_error(response: httpx.Response, body: bytes, secret: str | None) -> APIError:
    """The :class:`APIError` for an error response, with the server's own message.

    Understands Julep's ``{"error": {"message", "code", "details"}}`` and FastAPI's
    ``{"detail": ...}``; the URL and message have the key masked.
    """
    status = response.status_code
    parsed: Any = None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    message, code = _message_of(parsed)
    if not message:
        text = body.decode("utf-8", "replace").strip()[:SNIPPET_CHARS]
        message = text or response.reason_phrase or "error"
    url = redact(str(response.request.url), secret)
    cls = error_for_status(status)
    return cls(redact(message, secret), status=status, code=code, body=parsed, url=url)


def _message_of(parsed: Any) -> tuple[str, str | None]:
    if not isinstance(parsed, dict):
        return "", None
    error = parsed.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        details = error.get("details")
        if details:
            message = f"{message}: {_short(details)}" if message else _short(details)
        code = error.get("code")
        return message, str(code) if code is not None else None
    if isinstance(error, str):
        return error, None
    detail = parsed.get("detail")
    if detail is not None:
        return (detail if isinstance(detail, str) else _short(detail)), None
    return "", None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 500 else text[:497] + "..."


def body_json(response: httpx.Response, key: str | None) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        snippet = redact(response.text[:200], key)
        raise APIError(
            f"The server answered {response.status_code} with a body that is not JSON: "
            f"{snippet!r}. Is the base URL a Julep API?",
            status=response.status_code,
            url=redact(str(response.request.url), key),
        ) from exc


def parse_model(model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        snippet = json.dumps(data, default=str)[:200]
        raise APIError(
            f"The server's {what} does not have the expected shape ({first_error(exc)}): "
            f"{snippet}. Is the base URL a Julep v1 API?",
            status=200,
            body=data,
        ) from exc


def first_error(exc: pydantic.ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "value"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"
