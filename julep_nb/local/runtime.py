"""The live state of one execution: frames, transitions, waits and checkpoints.

A :class:`Frame` runs one list of steps. ``main`` and each called subworkflow
get a *workflow frame*, which owns ``state`` and the ``inputs``/``outputs``/
``steps`` records that expressions see; the bodies of ``if``/``switch``/
``foreach``/``map``/``parallel`` get *branch frames*, whose ``_`` is their own
but whose other names come from the enclosing workflow frame (as in Julep,
where ``steps[0].input`` inside a foreach body is the task's input).

Frames form a tree that is plain data: a step that is in flight keeps its
progress (child frames, results so far, the pending wait) in
``frame.progress``, updated right after each transition is committed. So a
checkpoint is simply the tree serialised as JSON, and a restored tree
continues where the transitions left off.

Only one wait can be pending per execution: a wait takes the execution's
*gate*, and while it is held every other branch blocks before its next
transition (``wait`` → ``wait`` is not a valid transition order, and a resume
must answer exactly one question).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

from julep_nb.api.errors import ConflictError
from julep_nb.api.models import TransitionType
from julep_nb.local.expressions import evaluate_value
from julep_nb.local.validate import step_kind, step_list

if TYPE_CHECKING:
    from julep_nb.local.model import ChatModel
    from julep_nb.local.store import Store

__all__ = [
    "MAX_DEPTH",
    "MAX_TRANSITIONS",
    "Ctx",
    "Frame",
    "Outcome",
    "Run",
    "Services",
    "StepFailed",
    "to_data",
]

MAX_DEPTH: Final = 50
"""Deepest nesting of frames (subworkflow calls and step bodies)."""
MAX_TRANSITIONS: Final = 100_000
"""Most transitions one execution may write (a runaway recursion stops here)."""
CHECKPOINT_VERSION: Final = 1

T = TransitionType


class StepFailed(Exception):
    """A step failed; the execution ends with an ``error`` transition at ``cursor``."""

    def __init__(self, message: str, cursor: dict[str, Any], step_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.cursor = cursor
        self.step_type = step_type


@dataclass
class Outcome:
    """What a step produced."""

    output: Any
    returned: bool = False  # a `return` step: the enclosing workflow ends with `output`
    recorded: bool = False  # the step's own transition (a `resume`) is already committed
    metadata: dict[str, Any] | None = None  # extra metadata of the step's transition


def to_data(value: Any) -> Any:
    """``value`` as JSON data (tuples/sets → lists, datetimes → ISO strings, others → str).

    Outputs are normalised once, when a step ends, so that expressions see the
    same values before and after a restart, and what API clients see.
    """
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return value
    if kind is dict:
        return {k if isinstance(k, str) else str(k): to_data(v) for k, v in value.items()}
    if kind in (list, tuple, set, frozenset):
        return [to_data(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    for base in (bool, int, float):  # subclasses (e.g. IntEnum) become plain values
        if isinstance(value, base):
            return base(value)
    return str(value)


def resolve_steps(spec: dict[str, Any], path: list[Any]) -> list[Any]:
    """The step list at ``path`` in the task (``["main", 2, "then"]`` → the then-steps)."""
    node: Any = spec
    for key in path:
        node = node[key]
    return step_list(node)


@dataclass
class Services:
    """What handlers need besides the frame: the chat model and the task's tools."""

    model: ChatModel
    tools: list[dict[str, Any]]


@dataclass
class Ctx:
    """One step about to run."""

    run: Run
    services: Services
    frame: Frame
    index: int
    step: dict[str, Any]
    kind: str
    label: str | None

    @property
    def input(self) -> Any:
        return self.frame.history[-1]

    def eval(self, value: Any) -> Any:
        return evaluate_value(value, self.frame.names())

    def fail(self, message: str) -> StepFailed:
        return StepFailed(message, self.frame.cursor(self.index), self.kind)


class Frame:
    """One running list of steps (see the module docstring)."""

    def __init__(
        self,
        *,
        workflow: str,
        path: list[Any],
        steps: list[Any],
        scope_id: str,
        history: list[Any],
        owner: Frame | None,
        is_main: bool,
        depth: int,
    ) -> None:
        self.workflow = workflow
        self.path = path
        self.steps = steps
        self.scope_id = scope_id
        self.history = history  # [input, output of step 0, output of step 1, …]
        self.labels: list[str | None] = []
        self.index = 0
        self.owner: Frame = owner if owner is not None else self
        self.is_main = is_main
        self.depth = depth
        self.progress: dict[str, Any] = {}
        self.state: dict[str, Any] = {}
        self.inputs: dict[Any, Any] = {}
        self.outputs: dict[Any, Any] = {}
        self.step_records: dict[Any, dict[str, Any]] = {}

    @classmethod
    def workflow_frame(
        cls, spec: dict[str, Any], name: str, input: Any, *, is_main: bool, depth: int = 0
    ) -> Frame:
        """A frame running workflow ``name`` (``main`` or a subworkflow) with its own state."""
        return cls(
            workflow=name,
            path=[name],
            steps=resolve_steps(spec, [name]),
            scope_id=str(uuid.uuid4()),
            history=[input],
            owner=None,
            is_main=is_main,
            depth=depth,
        )

    @property
    def owns(self) -> bool:
        return self.owner is self

    def cursor(self, index: int) -> dict[str, Any]:
        return {"workflow": self.workflow, "step": index, "scope_id": self.scope_id}

    def branch(self, suffix: str, slot: tuple[Any, ...], input: Any) -> Frame:
        """A branch frame running ``slot`` (e.g. ``("foreach", "do")``) of the current step."""
        node: Any = self.steps[self.index]
        for key in slot:
            node = node[key]
        return Frame(
            workflow=f"{self.workflow}[{self.index}].{suffix}",
            path=[*self.path, self.index, *slot],
            steps=step_list(node),
            scope_id=str(uuid.uuid4()),
            history=[input],
            owner=self.owner,
            is_main=False,
            depth=self.depth + 1,
        )

    def names(self) -> dict[str, Any]:
        """The names an expression in the current step sees."""
        owner = self.owner
        return {
            "_": self.history[-1],
            "inputs": owner.inputs,
            "outputs": owner.outputs,
            "steps": owner.step_records,
            "state": owner.state,
        }

    def begin(self) -> None:
        """Register the current step's input (workflow frames only)."""
        if self.owns:
            index, value = self.index, self.history[-1]
            self.inputs[index] = value
            self.step_records[index] = {"input": value}

    def record(self, output: Any, label: str | None) -> None:
        """The current step finished with ``output``: move to the next one."""
        if self.owns:
            index = self.index
            self.outputs[index] = output
            record = self.step_records.setdefault(index, {"input": self.history[-1]})
            record["output"] = output
            if label:
                self.step_records[label] = record
        self.history.append(output)
        self.labels.append(label)
        self.index += 1
        self.progress = {}

    # -- checkpoints

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "workflow": self.workflow,
            "path": self.path,
            "scope_id": self.scope_id,
            "index": self.index,
            "history": self.history,
            "labels": self.labels,
            "is_main": self.is_main,
            "depth": self.depth,
            "owns": self.owns,
            "progress": _encode(self.progress),
        }
        if self.owns:
            data["state"] = self.state
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], spec: dict[str, Any], owner: Frame | None) -> Frame:
        frame = cls(
            workflow=data["workflow"],
            path=data["path"],
            steps=resolve_steps(spec, data["path"]),
            scope_id=data["scope_id"],
            history=data["history"],
            owner=None if data["owns"] else owner,
            is_main=data["is_main"],
            depth=data["depth"],
        )
        frame.labels = data["labels"]
        frame.index = data["index"]
        if frame.owns:
            frame.state = data.get("state") or {}
            frame._rebuild_records()
        frame.progress = _decode(data["progress"], spec, frame.owner)
        return frame

    def _rebuild_records(self) -> None:
        for i, label in enumerate(self.labels):
            record = {"input": self.history[i], "output": self.history[i + 1]}
            self.inputs[i] = record["input"]
            self.outputs[i] = record["output"]
            self.step_records[i] = record
            if label:
                self.step_records[label] = record
        if self.index < len(self.steps):
            self.begin()


def _encode(value: Any) -> Any:
    if isinstance(value, Frame):
        return {"__frame__": value.to_dict()}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any, spec: dict[str, Any], owner: Frame) -> Any:
    if isinstance(value, dict):
        if "__frame__" in value:
            return Frame.from_dict(value["__frame__"], spec, owner)
        return {k: _decode(v, spec, owner) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, spec, owner) for v in value]
    return value


class _Stopped(ConflictError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=409, code="conflict")


@dataclass
class Waiter:
    """The one pending wait of an execution."""

    token: str
    answer: asyncio.Future[Any]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Run:
    """One execution in flight: its frame tree, transitions, gate and pending wait."""

    def __init__(self, store: Store, execution_id: str, spec: dict[str, Any]) -> None:
        self.store = store
        self.execution_id = execution_id
        self.spec = spec
        self.root: Frame | None = None
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiter: Waiter | None = None
        self.ready = asyncio.Event()  # set while a waiter can take a resume
        self.transitions = 0
        self.cancel_reason: str | None = None
        self.closing = False
        self.last_cursor: dict[str, Any] = {"workflow": "main", "step": 0, "scope_id": None}
        self.last_step_type = "init"
        self.task: asyncio.Task[None] | None = None

    # -- transitions

    def append(
        self,
        frame: Frame,
        type_: TransitionType,
        index: int,
        output: Any,
        *,
        next_index: int | None,
        step_type: str,
        label: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Commit one transition of ``frame`` at step ``index`` (no gate check)."""
        self.transitions += 1
        if self.transitions > MAX_TRANSITIONS:
            raise StepFailed(
                f"more than {MAX_TRANSITIONS:,} transitions: is a subworkflow calling itself "
                "forever?",
                frame.cursor(index),
                step_type,
            )
        current = frame.cursor(index)
        self.store.append_transition(
            self.execution_id,
            type=type_,
            output=output,
            current=current,
            next=None if next_index is None else frame.cursor(next_index),
            step_label=label,
            metadata={"step_type": step_type, **(metadata or {})},
        )
        self.last_cursor, self.last_step_type = current, step_type

    async def emit(
        self,
        frame: Frame,
        type_: TransitionType,
        index: int,
        output: Any,
        *,
        next_index: int | None,
        step_type: str,
        label: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Commit a transition once no other branch is waiting for input."""
        while not self.gate.is_set():
            await self.gate.wait()
        self.append(
            frame,
            type_,
            index,
            output,
            next_index=next_index,
            step_type=step_type,
            label=label,
            metadata=metadata,
        )

    async def init_frame(self, frame: Frame) -> None:
        """The ``init`` / ``init_branch`` transition of a new frame."""
        kind = step_kind(frame.steps[0], frame.workflow)
        type_ = T.INIT if frame.is_main else T.INIT_BRANCH
        await self.emit(frame, type_, 0, frame.history[0], next_index=0, step_type=kind)

    # -- waits

    async def wait(
        self,
        frame: Frame,
        index: int,
        output: Any,
        *,
        step_type: str,
        label: str | None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Pause with ``output`` until resumed; returns ``(resume input, wait record)``.

        The wait record (``extra`` plus the token) is kept in the checkpoint, so a
        step restored after a restart finds what it computed before waiting.
        """
        marker = frame.progress.get("waiting")
        if marker is None:
            while not self.gate.is_set():
                await self.gate.wait()
            self.gate.clear()
            marker = {"token": secrets.token_urlsafe(24), **(extra or {})}
            frame.progress["waiting"] = marker
            try:
                self.store.save_checkpoint(self.execution_id, self.snapshot(marker["token"]))
                self.append(
                    frame,
                    T.WAIT,
                    index,
                    output,
                    next_index=None,
                    step_type=step_type,
                    label=label,
                    metadata={"task_token": marker["token"]},
                )
            except BaseException:
                frame.progress.pop("waiting", None)
                self.gate.set()
                raise
        loop = asyncio.get_running_loop()
        waiter = Waiter(marker["token"], loop.create_future())
        self.waiter = waiter
        self.ready.set()
        try:
            answer = await waiter.answer
        except BaseException:
            if waiter.answer.done() and not waiter.done.done():
                # A resume is awaiting `done`: tell it the execution stopped first.
                waiter.done.set_exception(
                    _Stopped("the execution stopped before the resume was recorded")
                )
            raise
        finally:
            self.waiter = None
            self.ready.clear()
        try:
            last = index == len(frame.steps) - 1
            self.append(
                frame,
                T.RESUME,
                index,
                answer,
                next_index=None if last else index + 1,
                step_type=step_type,
                label=label,
            )
        except BaseException as exc:
            if not waiter.done.done():
                waiter.done.set_exception(exc)
            raise
        frame.progress.pop("waiting", None)
        self.gate.set()
        waiter.done.set_result(None)
        return answer, marker

    def snapshot(self, token: str) -> dict[str, Any]:
        """The checkpoint: everything needed to continue after a restart."""
        assert self.root is not None
        return {
            "version": CHECKPOINT_VERSION,
            "token": token,
            "transitions": self.transitions,
            "root": self.root.to_dict(),
        }

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Rebuild the frame tree of a checkpoint; its wait keeps the gate."""
        if checkpoint.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {checkpoint.get('version')!r} is not supported")
        self.root = Frame.from_dict(checkpoint["root"], self.spec, None)
        self.transitions = int(checkpoint.get("transitions", 0))
        self.gate.clear()
