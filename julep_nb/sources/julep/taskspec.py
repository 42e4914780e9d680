"""Task definitions from YAML text or dicts, checked before anything is sent.

The checks refuse what could exhaust memory or recursion on either side: YAML
aliases (the "billion laughs"), very deep nesting, very many values, huge text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

import yaml

from julep_nb.sources.julep.errors import InputError

__all__ = ["MAX_TASK_CHARS", "MAX_TASK_DEPTH", "MAX_TASK_NODES", "encode_json", "parse_task"]

MAX_TASK_CHARS: Final = 1_000_000
MAX_TASK_DEPTH: Final = 64
MAX_TASK_NODES: Final = 100_000

# The same safe loader as yaml.safe_load, in C when libyaml is there (30x faster).
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_task(task: str | Mapping[str, Any]) -> dict[str, Any]:
    """A task definition as a dict, from YAML text or a mapping.

    Refuses, with :class:`InputError` naming the problem, what could exhaust memory
    or recursion: YAML aliases (the "billion laughs"), nesting deeper than
    ``MAX_TASK_DEPTH``, more than ``MAX_TASK_NODES`` values, or text longer than
    ``MAX_TASK_CHARS``.
    """
    if isinstance(task, str):
        if len(task) > MAX_TASK_CHARS:
            raise InputError(
                f"Task YAML is {len(task):,} characters; the limit is {MAX_TASK_CHARS:,}. "
                "Split it into smaller tasks."
            )
        _check_yaml(task)
        try:
            data = yaml.load(task, Loader=_SafeLoader)  # a safe loader
        except yaml.YAMLError as exc:
            raise InputError(f"Task YAML could not be parsed: {exc}") from exc
    elif isinstance(task, Mapping):
        data = dict(task)
        _check_tree(data)
    else:
        raise InputError(f"A task is a YAML string or a dict, got {type(task).__name__}.")
    if not isinstance(data, dict):
        raise InputError(
            f"A task must be a mapping with 'name' and 'main', got {type(data).__name__}."
        )
    return data


def _check_yaml(text: str) -> None:
    depth = nodes = line = 0
    try:
        for event in yaml.parse(text, Loader=_SafeLoader):
            line = event.start_mark.line + 1 if event.start_mark else 0
            if isinstance(event, yaml.AliasEvent):
                raise InputError(
                    f"Task YAML uses the alias *{event.anchor} (line {line}): aliases are "
                    "not allowed, since they can expand exponentially. Write the value out."
                )
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_TASK_DEPTH:
                    raise _too_deep(line)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_TASK_NODES:
                    raise InputError(
                        f"Task YAML has more than {MAX_TASK_NODES:,} values (line {line}). "
                        "Split it into smaller tasks."
                    )
    except yaml.YAMLError as exc:
        if _is_depth_error(exc):  # the parser has its own, larger, depth limit
            raise _too_deep(_line_of(exc) or line) from exc
        raise InputError(f"Task YAML could not be parsed: {exc}") from exc
    except RecursionError as exc:
        raise _too_deep(line) from exc


def _too_deep(line: int) -> InputError:
    return InputError(
        f"Task YAML is nested more than {MAX_TASK_DEPTH} levels deep (line {line}): the "
        f"nesting depth limit is {MAX_TASK_DEPTH}. Flatten it."
    )


def _is_depth_error(exc: yaml.YAMLError) -> bool:
    # libyaml (PyYAML >= 6.0.4) stops a deep document while scanning ahead, before
    # the events reach the depth count above; its message is the only sign of why.
    text = str(exc).lower()
    return "nesting" in text or "depth" in text


def _line_of(exc: yaml.YAMLError) -> int:
    mark = getattr(exc, "problem_mark", None)
    return mark.line + 1 if mark is not None else 0


def _check_tree(data: Any) -> None:
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_TASK_NODES:
            raise InputError(f"The task has more than {MAX_TASK_NODES:,} values. Split it.")
        if depth > MAX_TASK_DEPTH:
            raise InputError(f"The task is nested more than {MAX_TASK_DEPTH} levels deep.")
        if isinstance(value, Mapping):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)


def encode_json(data: Any) -> bytes:
    try:
        text = json.dumps(data, default=_json_default, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"The request body is not JSON-serialisable: {exc}.") from exc
    return text.encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):  # YAML turns 2024-01-01 into a date
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} {value!r:.60} is not JSON-serialisable")
