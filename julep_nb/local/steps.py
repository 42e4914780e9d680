"""Step handlers: one coroutine per step kind, in a dispatch table.

:func:`run_frame` runs a frame's steps in order and writes the step's
transition (``step``, or ``finish``/``finish_branch`` after the last step or a
``return``); each handler only computes its step's output. Handlers that start
frames (``if_else``, ``switch``, ``foreach``, ``map_reduce``, ``parallel``,
``yield``) keep them in ``frame.progress`` so that a restored execution picks
up the same frames (see :mod:`julep_nb.local.runtime`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Final

from julep_nb.local import tools as tool_calls
from julep_nb.local.expressions import evaluate
from julep_nb.local.prompt import prompt_step
from julep_nb.local.runtime import (
    MAX_DEPTH,
    Ctx,
    Frame,
    Outcome,
    Position,
    Run,
    Services,
    StepFailed,
    to_data,
)
from julep_nb.local.tool_runner import PAUSE, ToolFailed, run_tool
from julep_nb.local.validate import TASK_FIELDS, sleep_seconds, step_kind, workflows
from julep_nb.sources.julep.models import TransitionType

__all__ = ["HANDLERS", "MAX_ITEMS", "run_frame"]

log = logging.getLogger("julep_nb.local.engine")

MAX_ITEMS: Final = 1_000
"""Most items a ``foreach`` or ``map_reduce`` may iterate over (Julep's limit)."""
YIELD_EVERY: Final = 32
"""Let other tasks run after this many consecutive steps of one frame."""

T = TransitionType


async def run_frame(run: Run, services: Services, frame: Frame) -> Outcome:
    """Run ``frame`` from its current step to its end (or a ``return``)."""
    steps = frame.steps
    ran = 0
    while frame.index < len(steps):
        index = frame.index
        step = steps[index]
        where = f"{frame.workflow}[{index}]"
        try:
            kind = step_kind(step, where)
        except Exception as exc:
            raise StepFailed(str(exc), Position(frame.cursor(index), "unknown")) from None
        label = step.get("label")
        frame.begin()
        run.position = Position(frame.cursor(index), kind, label)  # for a cancel
        ctx = Ctx(run, services, frame, index, step, kind, label)
        try:
            outcome = await HANDLERS[kind](ctx)
        except (StepFailed, asyncio.CancelledError):
            raise
        except Exception as exc:  # any failure of a step ends the execution with its message
            raise ctx.fail(f"{kind} step {where} failed: {exc}") from exc
        output = to_data(outcome.output)
        if outcome.returned or index == len(steps) - 1:
            type_ = T.FINISH if frame.is_main else T.FINISH_BRANCH
            await run.emit(
                frame,
                type_,
                index,
                output,
                next_index=None,
                step_type=kind,
                label=label,
                metadata=outcome.metadata,
            )
            frame.record(output, label)
            return Outcome(output, returned=outcome.returned)
        if not outcome.recorded:
            await run.emit(
                frame,
                T.STEP,
                index,
                output,
                next_index=index + 1,
                step_type=kind,
                label=label,
                metadata=outcome.metadata,
            )
        frame.record(output, label)
        ran += 1
        if ran % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # long pure-evaluate chains must not starve the server
    raise StepFailed(
        f"workflow {frame.workflow!r} has no steps", Position(frame.cursor(0), "unknown")
    )


# ---------------------------------------------------------------------------- frames


async def _child(ctx: Ctx, make: Callable[[], Frame], key: str = "child") -> Outcome:
    """Run (or, after a restart, continue) the child frame kept under ``progress[key]``."""
    progress = ctx.frame.progress
    child = progress.get(key)
    if child is None:
        child = make()
        if child.depth > MAX_DEPTH:
            raise ctx.fail(f"steps nested deeper than {MAX_DEPTH} levels (recursive subworkflow?)")
        await ctx.run.init_frame(child)
        progress[key] = child  # right after its init transition, as a checkpoint must see it
    outcome = await run_frame(ctx.run, ctx.services, child)
    progress.pop(key, None)
    return outcome


async def _branches(
    ctx: Ctx, makers: Sequence[Callable[[], Frame]], parallelism: int
) -> list[dict[str, Any]]:
    """Run branch frames concurrently; ``[{output, returned}]`` in branch order."""
    progress = ctx.frame.progress
    results: dict[str, dict[str, Any]] = progress.setdefault("results", {})
    gate = asyncio.Semaphore(parallelism)

    async def one(k: int) -> None:
        async with gate:
            outcome = await _child(ctx, makers[k], key=f"branch{k}")
            results[str(k)] = {"output": outcome.output, "returned": outcome.returned}

    tasks = [asyncio.ensure_future(one(k)) for k in range(len(makers)) if str(k) not in results]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return [results[str(k)] for k in range(len(makers))]


def _items(ctx: Ctx, expression: Any, what: str) -> list[Any]:
    progress = ctx.frame.progress
    if "items" not in progress:
        items = ctx.eval(expression)
        if isinstance(items, (tuple, set, frozenset)):
            items = list(items)
        if not isinstance(items, list):
            raise ctx.fail(f"{what} must evaluate to a list, got {type(items).__name__}")
        if len(items) > MAX_ITEMS:
            raise ctx.fail(f"{what} has {len(items)} items; at most {MAX_ITEMS} are allowed")
        progress["items"] = to_data(items)
    items_list: list[Any] = progress["items"]
    return items_list


# ---------------------------------------------------------------------------- handlers


async def evaluate_step(ctx: Ctx) -> Outcome:
    return Outcome(ctx.eval(ctx.step["evaluate"]))


async def set_step(ctx: Ctx) -> Outcome:
    values = ctx.eval(ctx.step["set"])
    if not isinstance(values, dict):
        raise ctx.fail(f"set must produce a mapping, got {type(values).__name__}")
    ctx.frame.owner.state.update(to_data(values))
    return Outcome(values)


async def get_step(ctx: Ctx) -> Outcome:
    key, state = ctx.step["get"], ctx.frame.owner.state
    if isinstance(key, list):
        return Outcome({k: state.get(k) for k in key})
    return Outcome(state.get(key))


async def log_step(ctx: Ctx) -> Outcome:
    message = ctx.eval(ctx.step["log"])
    text = message if isinstance(message, str) else json.dumps(to_data(message))
    log.info("execution %s: %s", ctx.run.execution_id, text)
    return Outcome(ctx.input, metadata={"log": text})


async def return_step(ctx: Ctx) -> Outcome:
    return Outcome(ctx.eval(ctx.step["return"]), returned=True)


async def error_step(ctx: Ctx) -> Outcome:
    message = ctx.eval(ctx.step["error"])
    raise ctx.fail(message if isinstance(message, str) else json.dumps(to_data(message)))


async def sleep_step(ctx: Ctx) -> Outcome:
    await asyncio.sleep(sleep_seconds(ctx.step["sleep"]))
    return Outcome(ctx.input)


async def if_else_step(ctx: Ctx) -> Outcome:
    progress = ctx.frame.progress
    if "branch" not in progress:
        progress["branch"] = "then" if ctx.eval(ctx.step["if"]) else "else"
    branch = progress["branch"]
    if branch == "else" and ctx.step.get("else") is None:
        return Outcome(ctx.input)
    outcome = await _child(ctx, lambda: ctx.frame.branch(branch, (branch,), ctx.input))
    return Outcome(outcome.output, returned=outcome.returned)


async def switch_step(ctx: Ctx) -> Outcome:
    progress = ctx.frame.progress
    cases = ctx.step["switch"]
    if "case" not in progress:
        chosen = next(
            (k for k, c in enumerate(cases) if c["case"] == "_" or ctx.eval(c["case"])), None
        )
        if chosen is None:
            raise ctx.fail("no switch case matched: add a default case (case: _)")
        progress["case"] = chosen
    k = progress["case"]
    outcome = await _child(
        ctx, lambda: ctx.frame.branch(f"switch[{k}]", ("switch", k, "then"), ctx.input)
    )
    return Outcome(outcome.output, returned=outcome.returned)


async def foreach_step(ctx: Ctx) -> Outcome:
    items = _items(ctx, ctx.step["foreach"]["in"], "foreach.in")
    results: list[Any] = ctx.frame.progress.setdefault("results", [])
    for k in range(len(results), len(items)):
        make = partial(ctx.frame.branch, f"foreach[{k}]", ("foreach", "do"), items[k])
        outcome = await _child(ctx, make)
        if outcome.returned:
            return Outcome(outcome.output, returned=True)
        results.append(outcome.output)
    return Outcome(list(results))


async def map_reduce_step(ctx: Ctx) -> Outcome:
    step = ctx.step
    items = _items(ctx, step["over"], "over")
    makers = [
        partial(ctx.frame.branch, f"map[{k}]", ("map",), item) for k, item in enumerate(items)
    ]
    # Julep's default: up to 100 branches at once. Pure steps still run one branch
    # after the other (nothing awaits), so transitions stay in item order.
    branches = await _branches(ctx, makers, int(step.get("parallelism", 100)))
    returned = next((b for b in branches if b["returned"]), None)
    if returned is not None:
        return Outcome(returned["output"], returned=True)
    outputs = [b["output"] for b in branches]
    initial = ctx.eval(step["initial"]) if "initial" in step else []
    if "reduce" not in step:  # Julep's default reduce: `$ results + [_]`
        if not isinstance(initial, list):
            raise ctx.fail("initial must be a list when map_reduce has no reduce expression")
        return Outcome([*initial, *outputs])
    names = ctx.names()
    result = initial
    for output in outputs:
        result = evaluate(step["reduce"], {**names, "results": result, "_": output})
    return Outcome(result)


async def parallel_step(ctx: Ctx) -> Outcome:
    count = len(ctx.step["parallel"])
    makers = [
        partial(ctx.frame.branch, f"parallel[{k}]", ("parallel", k), ctx.input)
        for k in range(count)
    ]
    branches = await _branches(ctx, makers, count)
    returned = next((b for b in branches if b["returned"]), None)
    if returned is not None:
        return Outcome(returned["output"], returned=True)
    return Outcome([b["output"] for b in branches])


async def yield_step(ctx: Ctx) -> Outcome:
    name = ctx.step["workflow"]
    if not isinstance(ctx.run.spec.get(name), list) or name in TASK_FIELDS:
        known = ", ".join(sorted(k for k in workflows(ctx.run.spec) if k != "main")) or "none"
        raise ctx.fail(f"unknown subworkflow {name!r} (subworkflows defined: {known})")
    arguments = ctx.step.get("arguments", "_")
    value = ctx.input if arguments == "_" else ctx.eval(arguments)
    frame = ctx.frame
    outcome = await _child(
        ctx,
        lambda: Frame.workflow_frame(
            ctx.run.spec, name, to_data(value), is_main=False, depth=frame.depth + 1
        ),
    )
    return Outcome(outcome.output)  # a `return` inside the subworkflow only ends it


async def wait_for_input_step(ctx: Ctx) -> Outcome:
    restored = "waiting" in ctx.frame.progress
    # As in Julep v1, the wait transition's output is the evaluated `info` itself.
    info = None if restored else ctx.eval(ctx.step["wait_for_input"]["info"])
    answer, _ = await ctx.run.wait(
        ctx.frame, ctx.index, to_data(info), step_type=ctx.kind, label=ctx.label
    )
    return Outcome(answer, recorded=True)


async def tool_call_step(ctx: Ctx) -> Outcome:
    tool = tool_calls.tool_by_name(ctx.services.tools, ctx.step["tool"])
    if "waiting" in ctx.frame.progress:  # restored while paused: only the answer is missing
        answer, _ = await ctx.run.wait(
            ctx.frame, ctx.index, None, step_type=ctx.kind, label=ctx.label
        )
        return Outcome(answer, recorded=True)
    arguments = ctx.step.get("arguments", "_")
    args = ctx.input if arguments == "_" else ctx.eval(arguments)
    try:
        result = await run_tool(ctx.services, tool, args)
    except ToolFailed as exc:
        raise ctx.fail(f"tool_call step {ctx.frame.workflow}[{ctx.index}] failed: {exc}") from None
    if result is not PAUSE:
        return Outcome(result)
    call = tool_calls.function_call(tool, to_data(args))
    answer, _ = await ctx.run.wait(ctx.frame, ctx.index, call, step_type=ctx.kind, label=ctx.label)
    return Outcome(answer, recorded=True)


Handler = Callable[[Ctx], Awaitable[Outcome]]

HANDLERS: Final[dict[str, Handler]] = {
    "evaluate": evaluate_step,
    "set": set_step,
    "get": get_step,
    "log": log_step,
    "return": return_step,
    "error": error_step,
    "sleep": sleep_step,
    "if_else": if_else_step,
    "switch": switch_step,
    "foreach": foreach_step,
    "map_reduce": map_reduce_step,
    "parallel": parallel_step,
    "yield": yield_step,
    "wait_for_input": wait_for_input_step,
    "tool_call": tool_call_step,
    "prompt": prompt_step,
}
"""Step kind → handler."""
