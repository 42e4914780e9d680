"""The live state of one execution: transitions, the pending wait, checkpoints.

A :class:`Run` holds an execution's frame tree (:mod:`julep_nb.local.frames`)
and writes its transitions. Only one wait can be pending per execution: a
wait takes the execution's *gate*, and while it is held every other branch
blocks before its next transition (``wait`` → ``wait`` is not a valid
transition order, and a resume must answer exactly one question). A wait
first saves a checkpoint (the frame tree as JSON), then commits its ``wait``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from julep_nb.local.errors import Conflict
from julep_nb.local.expressions import evaluate_value
from julep_nb.local.frames import Frame, to_data
from julep_nb.local.syntax import backwards_compatible
from julep_nb.local.validate import step_kind
from julep_nb.sources.julep.models import TransitionType

if TYPE_CHECKING:
    from julep_nb.local.model import ChatModel
    from julep_nb.local.store import Store

__all__ = [
    "MAX_DEPTH",
    "MAX_TRANSITIONS",
    "START",
    "Ctx",
    "Frame",
    "Outcome",
    "Position",
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


@dataclass(frozen=True)
class Position:
    """Where an execution is: the ``current`` cursor, step kind and label of a transition."""

    cursor: dict[str, Any]
    step_type: str
    label: str | None = None


START: Final = Position({"workflow": "main", "step": 0, "scope_id": None}, "init")


class StepFailed(Exception):
    """A step failed; the execution ends with an ``error`` transition at ``at``."""

    def __init__(self, message: str, at: Position) -> None:
        super().__init__(message)
        self.message = message
        self.at = at


@dataclass
class Outcome:
    """What a step produced."""

    output: Any
    returned: bool = False  # a `return` step: the enclosing workflow ends with `output`
    recorded: bool = False  # the step's own transition (a `resume`) is already committed
    metadata: dict[str, Any] | None = None  # extra metadata of the step's transition


@dataclass
class Services:
    """What handlers need besides the frame: the model, the tools, the store, the engine."""

    model: ChatModel
    tools: list[dict[str, Any]]
    store: Store | None = None
    start_execution: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None
    """Create and start an execution of a task (system tools); returns it as wire data."""


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

    def names(self) -> dict[str, Any]:
        """Julep's step context: the execution's names, the frame's, and the cursor."""
        current = self.frame.history[-1]
        return {
            **self.run.context,
            **self.frame.names(),
            "cursor": self.frame.cursor(self.index),
            "current_input": current,
        }

    def eval(self, value: Any) -> Any:
        return evaluate_value(value, self.names(), compat=self.run.compat)

    def fail(self, message: str) -> StepFailed:
        return StepFailed(message, Position(self.frame.cursor(self.index), self.kind, self.label))


class _Stopped(Conflict):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="conflict")


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
        self.position = START  # the step running last, for a cancel
        self.task: asyncio.Task[None] | None = None
        self.context: dict[str, Any] = {}  # the execution-wide names (local/context.py)
        # Julep's backwards-compatibility switch, read once (see local/syntax.py).
        self.compat = backwards_compatible()

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
                Position(frame.cursor(index), step_type, label),
            )
        current = frame.cursor(index)
        self.store.write_transition(
            self.execution_id,
            type=type_,
            output=output,
            current=current,
            next=None if next_index is None else frame.cursor(next_index),
            step_label=label,
            metadata={"step_type": step_type, **(metadata or {})},
        )
        self.position = Position(current, step_type, label)

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
                # The resume may have been cancelled too; nobody else need read this.
                waiter.done.exception()
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
            "spec": self.spec,  # the task as it was: a later update must not move the steps
            "root": self.root.to_dict(),
        }

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Rebuild the frame tree of a checkpoint; its wait keeps the gate."""
        if checkpoint.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {checkpoint.get('version')!r} is not supported")
        self.spec = checkpoint.get("spec") or self.spec
        self.root = Frame.from_dict(checkpoint["root"], self.spec, None)
        self.transitions = int(checkpoint.get("transitions", 0))
        self.gate.clear()
