"""Task definitions: step kinds, their YAML shapes, and validation at task creation.

A task is ``name, description, input_schema, tools, main`` plus named
subworkflows (any other top-level key holding a list of steps). Each step is a
mapping whose distinguishing key names its kind, as in Julep v1::

    - evaluate: {x: "$ _.a + 1"}               evaluate
    - if: "$ _.x > 1"  then: …  else: …          if_else
    - switch: [{case: "$ …", then: …}]           switch
    - foreach: {in: "$ _.items", do: …}          foreach
    - over: "$ _.items"  map: …  reduce: "$ …"   map_reduce (initial, parallelism)
    - parallel: [step, …]                        parallel
    - wait_for_input: {info: {…}}                wait_for_input
    - sleep: {seconds: 1}                        sleep (minutes, hours, days)
    - log: "template"   - return: {…}   - error: "message"
    - workflow: name  arguments: {…}             yield (subworkflow call)
    - set: {k: "$ v"}   - get: key               set / get
    - prompt: "…" | [{role, content}]            prompt (settings, unwrap, tools…)
    - tool: name  arguments: {…}                 tool_call

Nested step slots (``then``, ``else``, ``do``, ``map``, a switch case's ``then``)
take one step or a list of steps. Errors are ``StepError`` with a path such as
``main[2].foreach.do[0]``. As in Julep, whose step models ignore keys they do not
define, an unknown key is logged (naming its path) and ignored.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import Any, Final

from julep_nb.local.errors import ExpressionError, StepError
from julep_nb.local.expressions import compile_check
from julep_nb.local.tooldefs import TOOL_TYPES, check_tool

__all__ = [
    "KINDS",
    "TASK_FIELDS",
    "TOOL_TYPES",
    "MAX_SLEEP_SECONDS",
    "nested_steps",
    "sleep_seconds",
    "step_kind",
    "step_list",
    "validate_task",
    "workflows",
]

log = logging.getLogger(__name__)

# Distinguishing key → step kind. Order matters only for error messages.
KINDS: Final[dict[str, str]] = {
    "evaluate": "evaluate",
    "if": "if_else",
    "switch": "switch",
    "foreach": "foreach",
    "over": "map_reduce",
    "parallel": "parallel",
    "wait_for_input": "wait_for_input",
    "sleep": "sleep",
    "log": "log",
    "return": "return",
    "error": "error",
    "workflow": "yield",
    "set": "set",
    "get": "get",
    "prompt": "prompt",
    "tool": "tool_call",
}
_COMMON: Final = frozenset({"label", "kind_"})
_KEYS: Final[dict[str, frozenset[str]]] = {
    "if_else": frozenset({"if", "then", "else"}),
    "map_reduce": frozenset({"over", "map", "reduce", "initial", "parallelism"}),
    "yield": frozenset({"workflow", "arguments"}),
    "tool_call": frozenset({"tool", "arguments"}),
    "prompt": frozenset(
        {"prompt", "tools", "tool_choice", "settings", "unwrap", "auto_run_tools", "disable_cache"}
    ),
}
TASK_FIELDS: Final = frozenset(
    {
        "id",
        "agent_id",
        "name",
        "description",
        "input_schema",
        "tools",
        "inherit_tools",
        "metadata",
        "canonical_name",
        "created_at",
        "updated_at",
    }
)
MAX_SLEEP_SECONDS: Final = 31 * 24 * 3600
_SLEEP_UNITS: Final = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def workflows(spec: dict[str, Any]) -> dict[str, list[Any]]:
    """The task's workflows: ``main`` and every other top-level list of steps."""
    return {k: v for k, v in spec.items() if k not in TASK_FIELDS and isinstance(v, list)}


def step_kind(step: Any, path: str = "step") -> str:
    """The kind of a step mapping (``StepError`` naming ``path`` when it has none or two)."""
    if not isinstance(step, dict):
        raise StepError(
            f"a step must be a mapping such as {{evaluate: {{…}}}}, got {type(step).__name__}",
            path=path,
        )
    found = [key for key in step if key in KINDS]
    if len(found) != 1:
        keys = ", ".join(map(repr, step)) or "none"
        what = "no step kind" if not found else f"several step kinds ({', '.join(found)})"
        raise StepError(
            f"{what} in a step with keys {keys}: a step has exactly one of {', '.join(KINDS)}",
            path=path,
        )
    return KINDS[found[0]]


def step_list(value: Any) -> list[Any]:
    """A nested step slot as a list (one step or a list of steps)."""
    return value if isinstance(value, list) else [value]


def nested_steps(step: dict[str, Any], kind: str) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """``(relative path, steps value)`` of each nested step slot of a step."""
    if kind == "if_else":
        yield ("then",), step.get("then")
        if step.get("else") is not None:
            yield ("else",), step["else"]
    elif kind == "switch":
        for k, case in enumerate(step["switch"] if isinstance(step["switch"], list) else []):
            yield ("switch", k, "then"), case.get("then") if isinstance(case, dict) else None
    elif kind == "foreach":
        body = step["foreach"]
        yield ("foreach", "do"), body.get("do") if isinstance(body, dict) else None
    elif kind == "map_reduce":
        yield ("map",), step.get("map")
    elif kind == "parallel":
        for k, item in enumerate(step["parallel"] if isinstance(step["parallel"], list) else []):
            yield ("parallel", k), item


def sleep_seconds(value: Any) -> float:
    """Total seconds of a ``sleep`` step's value (``ValueError`` when malformed)."""
    if not isinstance(value, dict) or not value or set(value) - set(_SLEEP_UNITS):
        raise ValueError(f"sleep takes {{seconds, minutes, hours, days}}, got {value!r}")
    total = 0.0
    for unit, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            raise ValueError(f"sleep {unit} must be a number ≥ 0, got {amount!r}")
        total += amount * _SLEEP_UNITS[unit]
    if not 0 < total <= MAX_SLEEP_SECONDS:
        raise ValueError(f"sleep must last more than 0 s and at most 31 days, got {total} s")
    return total


# ---------------------------------------------------------------------------- validation


class _Checker:
    """Walks a task spec; raises the first problem as a StepError with its path."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.flows = workflows(spec)
        self.tools: dict[str, dict[str, Any]] = {}

    def run(self) -> None:
        if not isinstance(self.spec.get("main"), list) or not self.spec["main"]:
            raise StepError("a task needs a non-empty 'main' list of steps", path="main")
        self.check_tools(self.spec.get("tools") or [])
        for name, steps in self.flows.items():
            if not steps:
                raise StepError(f"workflow {name!r} has no steps", path=name)
            for i, step in enumerate(steps):
                self.check_step(step, f"{name}[{i}]")

    def check_tools(self, tools: Any) -> None:
        if not isinstance(tools, list):
            raise StepError("'tools' must be a list of tool definitions", path="tools")
        for i, tool in enumerate(tools):
            self.check_tool(tool, f"tools[{i}]")
            self.tools[tool["name"]] = tool

    def check_tool(self, tool: Any, path: str) -> None:
        check_tool(tool, path)
        if tool["type"] == "api_call":
            self.check_values(tool["api_call"], f"{path}.api_call")

    def steps_using(self, tool_name: str) -> list[str]:
        found = []
        for name, steps in self.flows.items():
            for i, step in enumerate(steps):
                if isinstance(step, dict) and step.get("tool") == tool_name:
                    found.append(f"{name}[{i}]")
        return found

    def check_step(self, step: Any, path: str) -> None:
        kind = step_kind(step, path)
        allowed = _KEYS.get(kind, frozenset({next(k for k in step if k in KINDS)})) | _COMMON
        _ignore_unknown(step, allowed, path, kind)
        getattr(self, f"check_{kind}", self.check_generic)(step, path)
        for rel, value in nested_steps(step, kind):
            where = path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rel)
            self.check_slot(value, where, kind)

    def check_slot(self, value: Any, path: str, kind: str) -> None:
        if value is None or value == []:
            raise StepError(f"this {kind} step needs at least one step here", path=path)
        if isinstance(value, list):
            for i, step in enumerate(value):
                self.check_step(step, f"{path}[{i}]")
        else:
            self.check_step(value, path)

    def check_values(self, value: Any, path: str, extra: tuple[str, ...] = ()) -> None:
        """Compile every expression/template inside ``value``."""
        if isinstance(value, str):
            try:
                compile_check(value, extra_names=extra)
            except ExpressionError as exc:
                raise StepError(str(exc), path=path) from None
        elif isinstance(value, dict):
            for key, item in value.items():
                self.check_values(item, f"{path}.{key}", extra)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.check_values(item, f"{path}[{i}]", extra)

    def check_generic(self, step: dict[str, Any], path: str) -> None:
        for key in ("evaluate", "set", "return", "log", "error"):
            if key in step:
                self.check_values(step[key], f"{path}.{key}")
        for key in ("evaluate", "set"):
            if key in step and not isinstance(step[key], dict):
                raise StepError(f"{key} takes a mapping of names to expressions", path=path)

    def check_if_else(self, step: dict[str, Any], path: str) -> None:
        self.check_values(step["if"], f"{path}.if")

    def check_switch(self, step: dict[str, Any], path: str) -> None:
        cases = step["switch"]
        if not isinstance(cases, list) or not cases:
            raise StepError("switch takes a non-empty list of {case, then}", path=path)
        for k, case in enumerate(cases):
            if not isinstance(case, dict) or "case" not in case:
                raise StepError("each switch entry is {case, then}", path=f"{path}.switch[{k}]")
            _ignore_unknown(case, {"case", "then"}, f"{path}.switch[{k}]", "switch case")
            self.check_values(case["case"], f"{path}.switch[{k}].case")

    def check_foreach(self, step: dict[str, Any], path: str) -> None:
        body = step["foreach"]
        if not isinstance(body, dict) or "in" not in body:
            raise StepError("foreach takes {in: <expression>, do: <steps>}", path=path)
        _ignore_unknown(body, {"in", "do"}, f"{path}.foreach", "foreach")
        self.check_values(body["in"], f"{path}.foreach.in")

    def check_map_reduce(self, step: dict[str, Any], path: str) -> None:
        self.check_values(step["over"], f"{path}.over")
        if "reduce" in step:
            self.check_values(step["reduce"], f"{path}.reduce", ("results",))
        if "initial" in step:
            self.check_values(step["initial"], f"{path}.initial")
        parallelism = step.get("parallelism", 1)
        if not isinstance(parallelism, int) or not 1 <= parallelism <= 100:
            raise StepError(f"parallelism must be 1–100, got {parallelism!r}", path=path)

    def check_parallel(self, step: dict[str, Any], path: str) -> None:
        items = step["parallel"]
        if not isinstance(items, list) or not 1 <= len(items) <= 100:
            raise StepError("parallel takes a list of 1–100 steps", path=path)

    def check_wait_for_input(self, step: dict[str, Any], path: str) -> None:
        body = step["wait_for_input"]
        if not isinstance(body, dict) or "info" not in body:
            raise StepError("wait_for_input takes {info: {…}}", path=path)
        _ignore_unknown(body, {"info"}, f"{path}.wait_for_input", "wait_for_input")
        self.check_values(body["info"], f"{path}.wait_for_input.info")

    def check_sleep(self, step: dict[str, Any], path: str) -> None:
        try:
            sleep_seconds(step["sleep"])
        except ValueError as exc:
            raise StepError(str(exc), path=path) from None

    def check_get(self, step: dict[str, Any], path: str) -> None:
        key = step["get"]
        if not isinstance(key, str) and not (
            isinstance(key, list) and all(isinstance(k, str) for k in key)
        ):
            raise StepError("get takes a key or a list of keys", path=path)

    def check_yield(self, step: dict[str, Any], path: str) -> None:
        target = step["workflow"]
        if target not in self.flows:  # Julep finds out when the step runs; so do we
            known = ", ".join(sorted(k for k in self.flows if k != "main")) or "none"
            log.warning(
                "%s: subworkflow %r is not defined (subworkflows: %s); the step will fail "
                "when it runs",
                path,
                target,
                known,
            )
        self.check_arguments(step, path)

    def check_tool_call(self, step: dict[str, Any], path: str) -> None:
        # With inherit_tools the agent's tools join in when the execution starts.
        self.warn_unknown_tool(step["tool"], path)
        self.check_arguments(step, path)

    def warn_unknown_tool(self, name: Any, path: str) -> None:
        """Julep checks tool names when the step runs: warn now, fail then."""
        if name not in self.tools and not self.spec.get("inherit_tools"):
            known = ", ".join(sorted(self.tools)) or "none"
            log.warning(
                "%s: tool %r is not defined (tools: %s); the step will fail when it runs",
                path,
                name,
                known,
            )

    def check_arguments(self, step: dict[str, Any], path: str) -> None:
        arguments = step.get("arguments", "_")
        if arguments != "_" and not isinstance(arguments, dict):
            raise StepError(
                "arguments must be a mapping, or '_' for the previous output", path=path
            )
        self.check_values(arguments, f"{path}.arguments")

    def check_prompt(self, step: dict[str, Any], path: str) -> None:
        prompt = step["prompt"]
        if isinstance(prompt, list):
            for k, message in enumerate(prompt):
                if not isinstance(message, dict) or "content" not in message:
                    raise StepError("each prompt message is {role, content}", path=f"{path}[{k}]")
        elif not isinstance(prompt, str):
            raise StepError("prompt takes a string or a list of {role, content}", path=path)
        self.check_values(prompt, f"{path}.prompt")
        tools = step.get("tools", "all")
        if tools != "all":
            for k, tool in enumerate(tools if isinstance(tools, list) else [tools]):
                if isinstance(tool, str):
                    self.warn_unknown_tool(tool, f"{path}.tools[{k}]")
                else:
                    self.check_tool(tool, f"{path}.tools[{k}]")


def _ignore_unknown(mapping: dict[str, Any], allowed: Any, path: str, what: str) -> None:
    extra = sorted(set(mapping) - set(allowed) - _COMMON)
    if extra:
        log.info(
            "%s: ignoring unknown key(s) %s of a %s step (Julep ignores them too)",
            path,
            ", ".join(map(repr, extra)),
            what,
        )


def validate_task(spec: dict[str, Any]) -> dict[str, Any]:
    """Check a task body; returns a deep copy (``StepError`` with the failing path)."""
    if not isinstance(spec, dict):
        raise StepError(f"a task must be a mapping, got {type(spec).__name__}")
    _Checker(spec).run()
    return copy.deepcopy(spec)
