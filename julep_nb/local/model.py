"""The chat model behind ``prompt`` steps: offline by default, or any OpenAI-compatible API.

:class:`OfflineModel` (the default) is deterministic and needs no network:

- it answers ``"[offline model] " + <the last user message>``;
- when the last user message contains a line ``TOOL_CALL: <name> <json arguments>``
  and ``<name>`` is one of the tools offered to the model, it calls that tool
  instead (``finish_reason: "tool_calls"``), so function tools can be
  exercised offline;
- after tool results (``role: tool`` messages) it answers
  ``"[offline model] tool results: " + <their contents, joined by "; ">``.

Set ``JULEP_NB_MODEL_URL`` (e.g. ``http://localhost:11434/v1``), optionally
``JULEP_NB_MODEL_KEY`` and ``JULEP_NB_MODEL``, to use an OpenAI-compatible
``/chat/completions`` endpoint instead (:class:`OpenAICompatibleModel`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any, Final, Protocol, runtime_checkable

import httpx

__all__ = [
    "OFFLINE_PREFIX",
    "ChatModel",
    "ModelError",
    "OfflineModel",
    "OpenAICompatibleModel",
    "model_from_env",
]

OFFLINE_PREFIX: Final = "[offline model] "
TOOL_CALL_MARKER: Final = "TOOL_CALL:"
DEFAULT_MODEL: Final = "gpt-4o-mini"


class ModelError(Exception):
    """The model could not answer (HTTP error, bad response)."""


@runtime_checkable
class ChatModel(Protocol):
    """What a ``prompt`` step needs: one chat completion in OpenAI's response shape."""

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]],
        settings: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Return ``{"id", "model", "choices": [{"message", "finish_reason"}], "usage"}``."""
        ...


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else json.dumps(content)


def _digest(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:24]


def _response(model: str, message: dict[str, Any], finish: str, prompt: str) -> dict[str, Any]:
    completion = len(_text(message.get("content")).split())
    prompt_tokens = len(prompt.split())
    return {
        "id": f"chatcmpl-{_digest(message, prompt)}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }


class OfflineModel:
    """Deterministic stand-in for an LLM (see the module docstring for its rules)."""

    name: Final = "julep-nb-offline"

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]],
        settings: Mapping[str, Any],
    ) -> dict[str, Any]:
        everything = " ".join(_text(m.get("content")) for m in messages)
        if messages and messages[-1].get("role") == "tool":
            results = [_text(m.get("content")) for m in messages if m.get("role") == "tool"]
            content = OFFLINE_PREFIX + "tool results: " + "; ".join(results)
            return _response(self.name, _assistant(content), "stop", everything)
        last_user = next(
            (_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        call = self._tool_call(last_user, tools)
        if call is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            return _response(self.name, message, "tool_calls", everything)
        return _response(self.name, _assistant(OFFLINE_PREFIX + last_user), "stop", everything)

    @staticmethod
    def _tool_call(text: str, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
        offered = {t.get("function", {}).get("name") for t in tools}
        for line in text.splitlines():
            if not line.strip().startswith(TOOL_CALL_MARKER):
                continue
            name, _, arguments = line.strip()[len(TOOL_CALL_MARKER) :].strip().partition(" ")
            if name in offered:
                arguments = arguments.strip() or "{}"
                return {
                    "id": f"call_{_digest(name, arguments)}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
        return None


def _assistant(content: str) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": None}


class OpenAICompatibleModel:
    """Any OpenAI-compatible ``/chat/completions`` endpoint, over httpx."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = base_url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.model = model or DEFAULT_MODEL
        self._api_key = api_key
        self._timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAICompatibleModel(url={self.url!r}, model={self.model!r})"

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]],
        settings: Mapping[str, Any],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, **settings, "messages": messages}
        if tools:
            body["tools"] = tools
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
            try:
                response = await client.post(self.url, json=body, headers=headers)
            except httpx.HTTPError as exc:
                raise ModelError(f"cannot reach the model at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise ModelError(
                f"the model at {self.url} answered {response.status_code}: {response.text[:300]}"
            )
        try:
            data = response.json()
            data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelError(
                f"the model at {self.url} sent no chat completion: {response.text[:300]}"
            ) from None
        return dict(data)


def model_from_env(environ: Mapping[str, str] | None = None) -> ChatModel:
    """``OpenAICompatibleModel`` when ``JULEP_NB_MODEL_URL`` is set, else ``OfflineModel``."""
    env = os.environ if environ is None else environ
    url = env.get("JULEP_NB_MODEL_URL", "").strip()
    if not url:
        return OfflineModel()
    return OpenAICompatibleModel(
        url,
        api_key=env.get("JULEP_NB_MODEL_KEY") or None,
        model=env.get("JULEP_NB_MODEL") or None,
    )
