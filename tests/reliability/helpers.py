"""Helpers of the reliability tests (no tests here): tasks, final-state fingerprints."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from julep_nb.live.state import ExecutionState
from julep_nb.sources.julep.client import Client

# A few steps with short sleeps between them, so streams are open while it runs.
STEPS_TASK: dict[str, Any] = {
    "name": "reliability-steps",
    "main": [
        {"evaluate": {"a": "$ _.n * 2"}},
        *[{"sleep": {"seconds": 0.1}}, {"evaluate": {"a": "$ _.a"}}] * 5,
        {"return": {"b": "$ _.a + 1"}},
    ],
}

# STEPS_TASK held at a wait_for_input first: whoever resumes it knows that the steps
# (and their transitions) come after that moment, e.g. once watchers stream.
GATED_STEPS_TASK: dict[str, Any] = {
    "name": "reliability-gated-steps",
    "main": [
        {"evaluate": {"a": "$ _.n * 2"}},
        {"wait_for_input": {"info": {"question": "start?"}}},
        {"evaluate": {"a": "$ steps[0].output.a"}},
        *STEPS_TASK["main"][1:],
    ],
}

# One that pauses for input first, then works for a while after the resume.
WAIT_TASK: dict[str, Any] = {
    "name": "reliability-wait",
    "main": [
        {"evaluate": {"a": "$ _.n"}},
        {"wait_for_input": {"info": {"question": "go on?"}}},
        {"return": {"answer": "$ _.answer"}},
    ],
}

# One that runs long enough to be killed mid-run.
SLOW_TASK: dict[str, Any] = {
    "name": "reliability-slow",
    "main": [{"evaluate": {"a": "$ _.n"}}, {"sleep": {"seconds": 30}}, {"return": {"a": 1}}],
}


async def new_task(client: Client, spec: dict[str, Any]) -> str:
    """Create an agent and the task ``spec``; returns the task id."""
    agent = await client.create_agent(name="reliability")
    return (await client.create_task(agent.id, spec)).id


def fingerprint(state: ExecutionState) -> tuple[Any, ...]:
    """What a user sees at the end: status, output, error, and the ordered transitions."""
    return (
        state.status.value,
        state.output,
        state.error,
        tuple((t.id, t.type.value) for t in state.transitions),
    )


def assert_no_duplicates(states: Iterable[ExecutionState]) -> None:
    """No transition id appears twice in any state."""
    for state in states:
        ids = [t.id for t in state.transitions]
        assert len(ids) == len(set(ids)), f"duplicate transitions in {state.execution_id}"


async def gather_bounded(*aws: Any, timeout: float) -> list[Any]:
    """``asyncio.gather`` under a timeout (tests never hang)."""
    async with asyncio.timeout(timeout):
        return list(await asyncio.gather(*aws))
