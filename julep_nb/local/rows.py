"""SQLite schema of the local store, and conversions between rows and wire models.

Timestamps are integer microseconds since the epoch (exact, and they sort),
JSON columns are compact JSON text; the functions here are pure.
"""

from __future__ import annotations

import json
import json.encoder
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from json.encoder import encode_basestring_ascii  # what the encoder writes strings with
from typing import Any, Final

from julep_nb.local.errors import Conflict, InvalidRequest, NotFound
from julep_nb.sources.julep.models import (
    Agent,
    Execution,
    Task,
    Transition,
    TransitionTarget,
    TransitionType,
    is_valid_transition,
    status_for,
)
from julep_nb.sources.julep.models import error_text as error_message

__all__ = [
    "EXECUTION_COLUMNS",
    "INSERT_TRANSITION",
    "MOVE_HEAD",
    "RESERVED",
    "SET_HEAD",
    "SCHEMA",
    "SORT_COLUMNS",
    "TRANSITION_COLUMNS",
    "StaleHead",
    "agent_from_row",
    "check_order",
    "check_page",
    "cursor_json",
    "dumps",
    "error_text",
    "execution_from_row",
    "execution_json",
    "execution_wire",
    "loads",
    "metadata_json",
    "not_found",
    "now_us",
    "read_head",
    "target_dict",
    "task_from_row",
    "to_dt",
    "transition_from_row",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
SORT_COLUMNS: Final = {"created_at": "created_at", "updated_at": "updated_at"}
_DIRECTIONS: Final = {"asc": "ASC", "desc": "DESC"}
# Keys the server owns; a task or agent body cannot set them.
RESERVED: Final = frozenset({"id", "agent_id", "created_at", "updated_at"})

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY, data TEXT NOT NULL, created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, spec TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_by_agent ON tasks (agent_id, created_at);
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY, task_id TEXT NOT NULL, input TEXT NOT NULL, metadata TEXT,
    idempotency_key TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    status TEXT NOT NULL, last_type TEXT, last_seq INTEGER NOT NULL DEFAULT 0,
    output TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS executions_by_task ON executions (task_id, created_at);
-- No index on status: only a restart asks for it (a scan), while every status change
-- would rewrite an index page (a quarter of the pages a commit wrote).
DROP INDEX IF EXISTS executions_by_status;
-- A batch follows its executions by listing the task's newest updates.
CREATE INDEX IF NOT EXISTS executions_by_update ON executions (task_id, updated_at);
CREATE UNIQUE INDEX IF NOT EXISTS executions_by_key
    ON executions (task_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- A transition is looked up by id within its execution (by the primary key prefix), so
-- transition ids need no index of their own: one fewer page written per commit.
CREATE TABLE IF NOT EXISTS transitions (
    execution_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL,
    type TEXT NOT NULL, output TEXT, current TEXT NOT NULL, next TEXT,
    scope_id TEXT, step_label TEXT, metadata TEXT, task_token TEXT,
    created_at INTEGER NOT NULL, PRIMARY KEY (execution_id, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transitions_by_token ON transitions (task_token)
    WHERE task_token IS NOT NULL;
CREATE TABLE IF NOT EXISTS checkpoints (
    execution_id TEXT PRIMARY KEY, data TEXT NOT NULL);
"""

EXECUTION_COLUMNS: Final = (
    "id, task_id, input, metadata, created_at, updated_at, status, last_seq, output, error"
)
TRANSITION_COLUMNS: Final = (
    "seq, id, execution_id, type, output, current, next, step_label, metadata, created_at"
)


def now_us() -> int:
    """The current UTC time in microseconds since the epoch."""
    return time.time_ns() // 1000


def to_dt(us: int) -> datetime:
    """A stored timestamp as an aware UTC datetime."""
    # Integer microseconds: exact, and they sort correctly (ISO strings may drop ".000000").
    return _EPOCH + timedelta(microseconds=us)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(
        f"cannot store a value of type {type(value).__name__} ({value!r:.80}): "
        "outputs must be JSON data (dict, list, str, number, bool, None)"
    )


_ENCODER: Final = json.JSONEncoder(default=_json_default, separators=(",", ":"))
# One encoder for every column: json.dumps builds a new one per call when given options.
# Its C walker, made once: encode() makes a new one per call, which costs more than
# walking a step's output. No cycle markers: a value holding itself overflows the stack.
_MAKE_WALK: Final = getattr(json.encoder, "c_make_encoder", None)  # None without the C part
_WALK: Final = (
    None
    if _MAKE_WALK is None
    # (markers, default, encoder, indent, key sep, item sep, sort_keys, skipkeys, allow_nan)
    else _MAKE_WALK(None, _json_default, encode_basestring_ascii, None, ":", ",", 0, 0, 1)
)


def dumps(value: Any) -> str:
    """Compact JSON for a column; a value that is not JSON data is a TypeError naming it."""
    if _WALK is None:
        return _ENCODER.encode(value)
    try:
        return "".join(_WALK(value, 0))
    except RecursionError:
        raise TypeError(
            f"cannot store a {type(value).__name__} that contains itself or is nested more "
            "than ~1,000 levels deep: outputs must be JSON data"
        ) from None


def loads(text: str | None) -> Any:
    """A JSON column's value (``NULL`` is ``None``)."""
    return None if text is None else json.loads(text)


def error_text(type_: TransitionType, output: Any) -> str | None:
    """The ``Execution.error`` a failing transition implies (Julep keeps it as text)."""
    return error_message(output) if type_ is TransitionType.ERROR else None


_CURSOR_KEYS: Final = frozenset({"workflow", "step", "scope_id"})


def target_dict(target: TransitionTarget | dict[str, Any] | None) -> dict[str, Any] | None:
    """A validated transition cursor as a plain dict."""
    if target is None:
        return None
    if isinstance(target, TransitionTarget):
        return target.model_dump(mode="json")
    if _CURSOR_KEYS.issuperset(target):  # the engine's own cursors: checked without pydantic
        workflow, step, scope = target.get("workflow"), target.get("step"), target.get("scope_id")
        if type(workflow) is str and type(step) is int and (scope is None or type(scope) is str):
            return {"workflow": workflow, "step": step, "scope_id": scope}
    return TransitionTarget.model_validate(target).model_dump(mode="json")


def cursor_json(cursor: dict[str, Any]) -> str:
    """``dumps(cursor)`` for a cursor of :func:`target_dict`, without the encoder's
    set-up and walk (two cursors per transition)."""
    workflow, step, scope = cursor.get("workflow"), cursor.get("step"), cursor.get("scope_id")
    plain = scope is None or type(scope) is str
    if not (plain and type(workflow) is str and type(step) is int and len(cursor) == 3):
        return dumps(cursor)
    scope_text = "null" if scope is None else encode_basestring_ascii(scope)
    return (
        f'{{"workflow":{encode_basestring_ascii(workflow)},"step":{step},"scope_id":{scope_text}}}'
    )


def metadata_json(metadata: dict[str, Any] | None) -> str | None:
    """``dumps(metadata)`` of a transition; most hold only their step's kind."""
    if metadata is None:
        return None
    step_type = metadata.get("step_type")
    if type(step_type) is str and len(metadata) == 1:
        return f'{{"step_type":{encode_basestring_ascii(step_type)}}}'
    return dumps(metadata)


INSERT_TRANSITION: Final = "INSERT INTO transitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
MOVE_HEAD: Final = (
    "UPDATE executions SET status = ?, last_type = ?, last_seq = ?, output = ?, error = ?, "
    "updated_at = ? WHERE id = ? AND last_seq = ?"
)


SET_HEAD: Final = (
    "UPDATE executions SET status = ?, last_type = ?, last_seq = ?, output = ?, error = ?, "
    "updated_at = ? WHERE id = ?"
)


class StaleHead(Exception):
    """The cached head of an execution no longer matches the database."""


_ORDER: Final = {
    (None if last is None else last.value, type_): is_valid_transition(last, type_)
    for last in (None, *TransitionType)
    for type_ in TransitionType
}
"""The transition rule by ``(stored latest type, next type)``: looked up per transition."""


def check_order(execution_id: str, last_type: str | None, type_: TransitionType) -> None:
    """``Conflict`` naming both types when ``type_`` may not follow ``last_type``."""
    if not _ORDER.get((last_type, type_), False):
        after = f"after {last_type!r}" if last_type else "as the first transition"
        raise Conflict(
            f"execution {execution_id!r}: a {type_.value!r} transition is not allowed "
            f"{after} (status {status_for(last_type).value})",
            code="invalid_transition",
        )


def not_found(kind: str, value: str) -> NotFound:
    """The 404 error for an unknown id."""
    return NotFound(
        f"{kind} {value!r} not found: check the id (list them to see what exists)",
        code="not_found",
    )


def check_page(limit: int, offset: int, direction: str) -> str:
    """Validated paging; returns the SQL direction (``ASC``/``DESC``)."""
    if not 1 <= limit <= 1000:
        raise InvalidRequest(f"limit must be between 1 and 1000, got {limit}")
    if offset < 0:
        raise InvalidRequest(f"offset must be 0 or more, got {offset}")
    if direction not in _DIRECTIONS:
        raise InvalidRequest(f"direction must be 'asc' or 'desc', got {direction!r}")
    return _DIRECTIONS[direction]


def agent_from_row(agent_id: str, body: dict[str, Any], created: int, updated: int) -> Agent:
    """An :class:`Agent` from its stored parts."""
    return Agent.model_validate(
        {**body, "id": agent_id, "created_at": to_dt(created), "updated_at": to_dt(updated)}
    )


def task_from_row(
    task_id: str, agent_id: str, body: dict[str, Any], created: int, updated: int
) -> Task:
    """A :class:`Task` from its stored parts (subworkflows are extra keys of ``body``)."""
    return Task.model_validate(
        {
            **body,
            "id": task_id,
            "agent_id": agent_id,
            "created_at": to_dt(created),
            "updated_at": to_dt(updated),
        }
    )


def execution_from_row(row: tuple[Any, ...]) -> Execution:
    """An :class:`Execution` from a row of ``EXECUTION_COLUMNS``."""
    return Execution.model_validate(execution_wire(row))


def _iso(us: int) -> str:
    """A stored timestamp as the wire writes it (``…T03:04:05.000123Z``, no fraction at 0),
    as ``to_dt(us).isoformat()`` does, a fifth of its time (six per execution served)."""
    seconds, fraction = divmod(us, 1_000_000)
    head = _iso_second(seconds)
    return f"{head}.{fraction:06d}Z" if fraction else f"{head}Z"


@lru_cache(maxsize=64)
def _iso_second(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a second since the epoch (the same few, many times)."""
    return (_EPOCH + timedelta(seconds=seconds)).isoformat()[:19]


def execution_wire(row: tuple[Any, ...]) -> dict[str, Any]:
    """An execution's wire data from its row of ``EXECUTION_COLUMNS``, built without a
    model (what the engine reads of an execution it starts)."""
    eid, task_id, input_, metadata, created, updated, status, seq, output, error = row
    return {
        "id": eid,
        "task_id": task_id,
        "status": status,
        "input": json.loads(input_),
        "output": loads(output),
        "error": error,
        "transition_count": seq,
        "metadata": loads(metadata),
        "created_at": _iso(created),
        "updated_at": _iso(updated),
    }


def execution_json(row: tuple[Any, ...]) -> str:
    """``execution_from_row(row).to_wire()`` as JSON text, built from the row's own JSON
    columns without parsing them (what listings send: many executions per request)."""
    eid, task_id, input_, metadata, created, updated, status, seq, output, error = row
    encode = _ENCODER.encode
    return (
        f'{{"id":{encode(eid)},"task_id":{encode(task_id)},"status":{encode(status)},'
        f'"input":{input_},"output":{output or "null"},'
        f'"error":{"null" if error is None else encode(error)},"transition_count":{seq},'
        f'"metadata":{metadata or "null"},"created_at":"{_iso(created)}",'
        f'"updated_at":"{_iso(updated)}"}}'
    )


def transition_from_row(row: tuple[Any, ...]) -> Transition:
    """A :class:`Transition` from a row of ``TRANSITION_COLUMNS``."""
    _seq, tid, eid, type_, output, current, next_, label, metadata, created = row
    when = to_dt(created)
    return Transition.model_validate(
        {
            "id": tid,
            "execution_id": eid,
            "type": type_,
            "output": loads(output),
            "current": json.loads(current),
            "next": loads(next_),
            "step_label": label,
            "metadata": loads(metadata),
            "created_at": when,
            "updated_at": when,
        }
    )


def read_head(db: sqlite3.Connection, execution_id: str) -> tuple[str | None, int, int]:
    """The execution's latest (type, seq, time) as stored; ``NotFound`` if unknown."""
    found = db.execute(
        "SELECT last_type, last_seq, updated_at FROM executions WHERE id = ?",
        (execution_id,),
    ).fetchone()
    if found is None:
        raise not_found("execution", execution_id)
    return found[0], found[1], found[2]
