"""Request and response bodies of the local server: JSON everywhere, YAML too on the
task routes' requests.

Julep's task routes take ``application/yaml`` (and ``text/yaml``,
``application/x-yaml``, ``text/x-yaml``) as well as JSON. YAML is read with the
safe loader, without aliases (``*name`` could multiply a small body into a
huge one) and within the same size and nesting limits as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import pydantic
import yaml
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "MAX_BODY_BYTES",
    "YAML_TYPES",
    "json_response",
    "json_text_response",
    "read_body",
    "read_model",
]

M = TypeVar("M", bound=pydantic.BaseModel)

MAX_BODY_BYTES: Final = 4 * 1024 * 1024
YAML_TYPES: Final = frozenset(
    {"application/yaml", "text/yaml", "application/x-yaml", "text/x-yaml"}
)


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed; repeat the value instead", mark
            )
        return super().compose_node(parent, index)


async def _raw(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        if int(declared) > MAX_BODY_BYTES:
            raise HTTPException(413, f"request body of {declared} bytes is over {MAX_BODY_BYTES}")
        return await request.body()  # the server reads no more than the declared length
    chunks: list[bytes] = []  # chunked: counted as it arrives
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"request body is over the {MAX_BODY_BYTES}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _yaml(raw: bytes) -> Any:
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)  # noqa: S506 (safe loader)
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"request body is not UTF-8 text: {exc}") from None
    except yaml.YAMLError as exc:
        raise HTTPException(400, f"request body is not valid YAML: {exc}") from None
    except RecursionError:
        raise HTTPException(400, "request body is nested too deeply to parse; flatten it") from None


async def read_body(request: Request, *, yaml_ok: bool = False) -> Any:
    """The parsed body (``{}`` when empty); 400/413/415 with a message saying why not."""
    return _parse(request, await _raw(request), yaml_ok=yaml_ok)


async def read_model(request: Request, model: type[M]) -> M:
    """``model.model_validate(await read_body(request))``, read by pydantic-core straight
    from the bytes (a quarter of the time); a body it refuses is read again as
    :func:`read_body` reads it, so a bad one is refused with the same words."""
    raw = await _raw(request)
    if raw.strip() and _media(request) not in YAML_TYPES:
        try:
            return model.model_validate_json(raw)
        except pydantic.ValidationError:
            pass
    return model.model_validate(_parse(request, raw, yaml_ok=False))


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _parse(request: Request, raw: bytes, *, yaml_ok: bool) -> Any:
    if not raw.strip():
        return {}
    media = _media(request)
    if media in YAML_TYPES:
        if not yaml_ok:
            raise HTTPException(415, f"this route takes JSON, not {media}")
        return _yaml(raw)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise HTTPException(400, f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # json.loads recurses per level: '[' * 100_000 was a 500
        raise HTTPException(400, "request body is nested too deeply to parse; flatten it") from None


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``data`` as a compact JSON response."""
    return json_text_response(json.dumps(data, separators=(",", ":")), status, headers)


def json_text_response(
    text: str | bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """JSON already written as text (a row's own JSON columns, not re-encoded)."""
    return Response(text, status, headers=headers, media_type="application/json")
