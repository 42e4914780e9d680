"""Hostile tasks and inputs against the running server, which keeps serving others.

Expression attacks end as failed executions with the sandbox's message within the
time limit (or are refused at creation when visible in the task); task YAML bombs
and hostile request bodies are refused with a clear 4xx, never a 500 or a hang.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from julep_nb.connect import run
from julep_nb.local.sandbox import MAX_EVAL_SECONDS
from julep_nb.local.server import LocalServer
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import InputError, ValidationError
from julep_nb.sources.julep.taskspec import MAX_TASK_DEPTH
from tests.reliability.helpers import STEPS_TASK, new_task

# Slack for a loaded 2-core CI machine; a real hang would take minutes.
WITHIN = MAX_EVAL_SECONDS + 3.0

# Hidden from creation-time checks: the sizes come from the input at run time.
RUNTIME_ATTACKS = [
    "_.n ** _.n ** _.n",  # a huge power
    "'a' * _.n * _.n",  # a huge repetition
    "[0] * _.n * _.n",
    "[x for x in range(_.n * _.n)]",  # an "infinite" comprehension
    "[x for x in range(_.n) for y in range(_.n)]",
    "'x' * (_.n * 10)",  # a 10 MB string
    "_.s.ljust(_.n * 1000)",
    "re.match('(a|aa)+$', 'a' * 60 + 'b')",  # catastrophic backtracking
    "json.loads('[' * _.n + ']' * _.n)",  # deep recursion through a helper
]
# Visible in the task: refused when it is created.
STATIC_ATTACKS = [
    "__import__('os').system('true')",
    "().__class__.__mro__[1].__subclasses__()",
    "(lambda: 1)()",
    "getattr(_.s, '__class__')",
    "_.s.__class__.__mro__",
    "eval('1')",
    "open('/etc/passwd').read()",
]


async def _attack(client: Client, agent_id: str, expression: str) -> tuple[str, float, str]:
    task = await client.create_task(
        agent_id, {"name": "attack", "main": [{"evaluate": {"r": "$ " + expression}}]}
    )
    began = time.monotonic()
    state = await (await run(task.id, {"n": 1_000_000, "s": "abc"}, client=client))
    return state.status.value, time.monotonic() - began, state.error or ""


async def test_expression_attacks_fail_in_time_while_other_executions_run(
    local_server: LocalServer,
) -> None:
    async with Client(base_url=local_server.base_url) as client:
        agent = await client.create_agent(name="attacker")
        honest_task = await new_task(client, STEPS_TASK)
        async with asyncio.timeout(60):
            honest = [await run(honest_task, {"n": i}, client=client) for i in range(20)]
            outcomes = await asyncio.gather(
                *(_attack(client, agent.id, attack) for attack in RUNTIME_ATTACKS)
            )
            finals = await asyncio.gather(*(h._wait(None) for h in honest))
            for expression in STATIC_ATTACKS:
                with pytest.raises(ValidationError, match=r"main\[0\]\.evaluate\.r"):
                    await client.create_task(
                        agent.id, {"name": "a", "main": [{"evaluate": {"r": "$ " + expression}}]}
                    )
    for expression, (status, seconds, error) in zip(RUNTIME_ATTACKS, outcomes, strict=True):
        assert status == "failed", (expression, error)
        assert "expression" in error and "failed" in error, (expression, error)
        assert seconds < WITHIN, (expression, seconds)
    assert [s.status.value for s in finals] == ["succeeded"] * 20
    assert sorted(s.output["b"] for s in finals) == [2 * i + 1 for i in range(20)]


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
DEPTH = rf"nested more than {MAX_TASK_DEPTH} levels deep .*depth limit is {MAX_TASK_DEPTH}"
YAML_BOMBS = {
    "aliases": (BILLION_LAUGHS + "name: t\nmain: []\n", "alias"),
    # Flow style: the YAML parser's own limit stops it; block style: julep_nb's count.
    # Either way the error names the nesting depth and julep_nb's limit.
    "deep nesting": ("name: t\nmain: " + "[" * 10_000 + "]" * 10_000 + "\n", DEPTH),
    "deep block nesting": (
        "name: t\nmain:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(200)),
        DEPTH,
    ),
    "giant document": ("name: t\nmain:\n" + "  - evaluate: {x: '1'}\n" * 60_000, "characters"),
    "many values": ("name: t\nmain: [" + "1, " * 150_000 + "1]\n", "values"),
}


@pytest.mark.parametrize("bomb", YAML_BOMBS.values(), ids=list(YAML_BOMBS))
async def test_yaml_bombs_are_refused_at_creation_with_a_clear_error(
    local_server: LocalServer, bomb: tuple[str, str]
) -> None:
    text, word = bomb
    async with Client(base_url=local_server.base_url) as client:
        agent = await client.create_agent(name="bombs")
        began = time.monotonic()
        with pytest.raises(InputError, match=word):
            await client.create_task(agent.id, text)
        assert time.monotonic() - began < 5
        assert await client.list_tasks(agent.id) == []  # nothing was created


async def test_hostile_bodies_sent_straight_to_the_server_get_a_4xx(
    local_server: LocalServer,
) -> None:
    """What the client refuses, the server refuses too (other clients exist)."""
    async with httpx.AsyncClient(base_url=local_server.base_url, timeout=10) as http:
        agent = (await http.post("/agents", json={"name": "raw"})).json()
        tasks = f"/agents/{agent['id']}/tasks"
        deep = b'{"name": "t", "main": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        giant = json.dumps({"name": "t", "main": [], "description": "x" * 5_000_000}).encode()
        wide = json.dumps({"name": "t", "main": [{"evaluate": {"x": "1"}}] * 200_000}).encode()
        for body in (deep, giant, wide, b"\xff\xfe{", b'{"name": 1e999999}'):
            response = await http.post(tasks, content=body)
            assert 400 <= response.status_code < 500, (body[:40], response.text[:300])
            assert response.json()["error"]["message"]
        task = await http.post(tasks, json={"name": "ok", "main": [{"evaluate": {"x": "$ 1"}}]})
        deep_input = b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        response = await http.post(f"/tasks/{task.json()['id']}/executions", content=deep_input)
        assert 400 <= response.status_code < 500, response.text[:300]
        assert (await http.get("/healthz")).status_code == 200
