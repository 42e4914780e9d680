"""The ``prompt`` step: render messages, ask the chat model, run the tools it calls.

Like Julep, the step's output is the whole chat completion (``choices`` …), or
just the message content with ``unwrap: true``. Tools are offered to the model
only with ``auto_run_tools: true`` (Julep's rule); their calls then run:

- tools that run here (``api_call``, integrations with a handler, system tools
  on the local store; see :mod:`julep_nb.local.tool_runner`) run, and their
  results go back to the model as ``role: tool`` messages;
- the others (``function`` …) pause the execution (``wait`` whose output is the
  list of tool calls); the resume input is the result: either a mapping from
  call id to result, or one result used for every call. Then the model answers
  again.
"""

from __future__ import annotations

import json
from typing import Any, Final

from julep_nb.local import tools as tool_calls
from julep_nb.local.runtime import Ctx, Outcome, to_data
from julep_nb.local.tool_runner import PAUSE, ToolFailed, run_tool

__all__ = ["MAX_TOOL_ROUNDS", "prompt_step"]

MAX_TOOL_ROUNDS: Final = 10
"""Most model ↔ tool round trips of one ``prompt`` step."""


def _messages(ctx: Ctx) -> list[dict[str, Any]]:
    prompt = ctx.eval(ctx.step["prompt"])
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages = []
    for message in prompt:
        content = message.get("content")
        messages.append(
            {
                **message,
                "role": str(message.get("role") or "user"),
                "content": content
                if isinstance(content, (str, list)) or content is None
                else json.dumps(to_data(content)),
            }
        )
    return messages


def _offered_tools(ctx: Ctx) -> list[dict[str, Any]]:
    if not ctx.step.get("auto_run_tools"):
        return []
    chosen = ctx.step.get("tools", "all")
    if chosen == "all":
        return list(ctx.services.tools)
    return [
        tool_calls.tool_by_name(ctx.services.tools, t) if isinstance(t, str) else t
        for t in (chosen if isinstance(chosen, list) else [chosen])
    ]


def _tool_message(call: dict[str, Any], result: Any) -> dict[str, Any]:
    content = result if isinstance(result, str) else json.dumps(to_data(result))
    return {"role": "tool", "tool_call_id": call["id"], "content": content}


def _function_results(calls: list[dict[str, Any]], answer: Any) -> list[dict[str, Any]]:
    by_id = isinstance(answer, dict) and all(c["id"] in answer for c in calls)
    return [_tool_message(c, answer[c["id"]] if by_id else answer) for c in calls]


async def _run_calls(
    ctx: Ctx, calls: list[dict[str, Any]], tools: list[dict[str, Any]], messages: list[Any]
) -> list[dict[str, Any]]:
    """Tool messages for ``calls``: the ones that can run here run, the others wait."""
    by_name = {t["name"]: t for t in tools}
    replies: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    for call in calls:
        tool = by_name.get(call.get("function", {}).get("name"))
        if tool is None:
            raise ctx.fail(f"the model called an unknown tool: {call.get('function')!r}")
        try:
            arguments = json.loads(call["function"].get("arguments") or "{}")
        except ValueError:
            raise ctx.fail(f"the model sent invalid JSON arguments: {call['function']!r}") from None
        try:
            result = await run_tool(ctx.services, tool, arguments)
        except ToolFailed as exc:
            raise ctx.fail(f"prompt step {ctx.frame.workflow}[{ctx.index}]: {exc}") from None
        if result is PAUSE:
            waiting.append(call)
        else:
            replies.append(_tool_message(call, result))
    if waiting:
        answer, _ = await ctx.run.wait(
            ctx.frame,
            ctx.index,
            waiting,
            step_type=ctx.kind,
            label=ctx.label,
            extra={"messages": [*messages, *replies], "calls": waiting},
        )
        replies.extend(_function_results(waiting, answer))
    return replies


async def prompt_step(ctx: Ctx) -> Outcome:
    """Run a ``prompt`` step (see the module docstring)."""
    step = ctx.step
    tools = _offered_tools(ctx)
    openai_tools = [tool_calls.openai_tool(t) for t in tools]
    settings = dict(ctx.eval(step.get("settings") or {}))
    if openai_tools and step.get("tool_choice") is not None:
        settings["tool_choice"] = ctx.eval(step["tool_choice"])
    saved = ctx.frame.progress.get("waiting")
    if saved is not None:  # restored while waiting for function results
        answer, _ = await ctx.run.wait(
            ctx.frame, ctx.index, None, step_type=ctx.kind, label=ctx.label
        )
        messages = [*saved["messages"], *_function_results(saved["calls"], answer)]
    else:
        messages = _messages(ctx)
    for _ in range(MAX_TOOL_ROUNDS):
        response = await ctx.services.model.complete(
            messages, tools=openai_tools, settings=settings
        )
        message = response["choices"][0]["message"]
        calls = message.get("tool_calls") if tools else None
        if not calls:
            if step.get("unwrap"):
                return Outcome(message.get("content"))
            return Outcome(response)
        messages.append(
            {"role": "assistant", "content": message.get("content"), "tool_calls": calls}
        )
        messages.extend(await _run_calls(ctx, calls, tools, messages))
    raise ctx.fail(f"the model kept calling tools after {MAX_TOOL_ROUNDS} rounds")
