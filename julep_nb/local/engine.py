"""The local task engine: runs Julep task executions as asyncio tasks.

Usage (the app does this)::

    engine = Engine(store)                  # model: offline, or JULEP_NB_MODEL_URL
    spec = engine.validate_task(body)       # StepError naming e.g. main[2].foreach.do[0]
    engine.start(execution_id)              # returns at once; transitions follow
    await engine.resume(execution_id, {"answer": 42})
    await engine.cancel(execution_id, "no longer needed")

Each execution writes ``init``, one ``step`` per step (``finish`` after the
last), ``init_branch``/``finish_branch`` around step bodies and subworkflows,
``wait``/``resume`` around pauses, and ends with ``finish``, ``error`` or
``cancelled``. A waiting execution is checkpointed, so it survives a restart.

Restarts (:meth:`Engine.recover`): executions still *queued* are started;
*waiting* ones are restored from their checkpoint and stay resumable; ones
that were *running* end with an ``error`` transition saying that the server
stopped while they ran (their progress between waits is not saved). A clean
shutdown (:meth:`Engine.aclose`) ends running executions the same way at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Final

from julep_nb.local.context import execution_names, task_tools, task_view
from julep_nb.local.errors import Conflict, InvalidRequest
from julep_nb.local.model import ChatModel, model_from_env
from julep_nb.local.rows import execution_wire
from julep_nb.local.runtime import START, Frame, Position, Run, Services, StepFailed, to_data
from julep_nb.local.sandbox import MAX_RESULT_SIZE, deep_size
from julep_nb.local.steps import run_frame
from julep_nb.local.store import Store
from julep_nb.local.validate import validate_task
from julep_nb.sources.julep.models import ExecutionStatus, Transition, TransitionType

__all__ = ["RESUME_READY_SECONDS", "Engine"]

log = logging.getLogger(__name__)

RESUME_READY_SECONDS: Final = 5.0
"""How long a resume waits for a just-restored execution to reach its pause."""

T = TransitionType
S = ExecutionStatus


def _conflict(message: str) -> Conflict:
    return Conflict(message, code="conflict")


class Engine:
    """Runs executions of local tasks; one asyncio task per execution, kept in a registry."""

    def __init__(self, store: Store, *, model: ChatModel | None = None) -> None:
        self.store = store
        self.model = model if model is not None else model_from_env()
        self._runs: dict[str, Run] = {}
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop runs start on

    def __repr__(self) -> str:
        return f"Engine(model={self.model!r}, running={len(self._runs)})"

    # ---------------------------------------------------------------- tasks

    def validate_task(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Check a task body at creation; ``StepError`` with the failing step's path."""
        return validate_task(spec)

    # ---------------------------------------------------------------- lifecycle

    def start(self, execution_id: str, *, execution: dict[str, Any] | None = None) -> None:
        """Schedule a queued execution on the running loop; returns at once.

        ``execution``: its wire data, when the caller has just created it (saves a read).
        """
        if execution_id in self._runs:
            raise _conflict(f"execution {execution_id!r} is already running")
        self._launch(Run(self.store, execution_id, {}), restored=False, execution=execution)

    def _start_from_step(self, task_id: str, input: dict[str, Any]) -> dict[str, Any]:
        """Create and start an execution of ``task_id`` (a system tool call); its wire data."""
        [(row, _)] = self.store.create_rows(task_id, [(to_data(input), None, None)])
        execution = execution_wire(row)
        self.start(row[0], execution=execution)
        return execution

    def _launch(self, run: Run, *, restored: bool, execution: dict[str, Any] | None = None) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            # Asked once per loop: on Python 3.11 get_running_loop() is a getpid system call.
            loop = self._loop = asyncio.get_running_loop()
        self._runs[run.execution_id] = run
        run.task = loop.create_task(
            self._drive(run, restored=restored, execution=execution),
            name=f"julep-nb execution {run.execution_id}",
        )
        run.task.add_done_callback(lambda _: self._forget(run))

    def _forget(self, run: Run) -> None:
        if self._runs.get(run.execution_id) is run:
            del self._runs[run.execution_id]

    async def _drive(self, run: Run, *, restored: bool, execution: dict[str, Any] | None) -> None:
        try:
            if execution is None:
                execution = self.store.get_execution(run.execution_id).to_wire()
            if restored:  # the task as its checkpoint kept it
                view = task_view(json.dumps(run.spec, separators=(",", ":")))
            else:  # shared by the task's executions: nothing may modify it
                view = task_view(self.store.task_spec_json(execution["task_id"]))
                run.spec = view.spec
            # Read before the first transition: the steps then run without a read, so
            # their transitions share one commit (local/commit_group.py).
            run.context = execution_names(self.store, execution, view)
            if not restored:
                run.root = Frame.workflow_frame(
                    run.spec, "main", to_data(execution["input"]), is_main=True
                )
                await run.init_frame(run.root)
            assert run.root is not None
            services = Services(
                model=self.model,
                tools=task_tools(self.store, run.spec),
                store=self.store,
                start_execution=self._start_from_step,
            )
            await run_frame(run, services, run.root)
        except StepFailed as failure:
            self._end(run, T.ERROR, failure.message, failure.at)
        except asyncio.CancelledError:
            if not run.closing:
                reason = run.cancel_reason or "cancelled"
                self._end(run, T.CANCELLED, reason, run.position)
        except Exception as exc:  # a bug must still end the execution, not leave it running
            log.exception("execution %s: internal error", run.execution_id)
            message = f"internal error of the local engine: {type(exc).__name__}: {exc}"
            self._end(run, T.ERROR, message, run.position)

    def _end(self, run: Run, type_: TransitionType, output: Any, at: Position) -> None:
        """The final ``error``/``cancelled`` transition (never blocked by the gate)."""
        try:
            self._append_end(run.execution_id, type_, output, at)
        except Conflict:
            if type_ is not T.ERROR:
                raise
            # `wait` → `error` is not a valid order: a branch failed while another
            # branch waited for input. Record the failure as a cancellation.
            self._append_end(run.execution_id, T.CANCELLED, f"failed while waiting: {output}", at)

    def _append_end(
        self, execution_id: str, type_: TransitionType, output: Any, at: Position
    ) -> None:
        self.store.write_transition(
            execution_id,
            type=type_,
            output=output,
            current=at.cursor,
            next=None,
            step_label=at.label,
            metadata={"step_type": at.step_type},
        )

    # ---------------------------------------------------------------- resume / cancel

    async def resume(self, execution_id: str, input: dict[str, Any]) -> None:
        """Answer a waiting execution; ``input`` becomes the waiting step's output.

        ``Conflict`` (naming the status) unless the execution is
        ``awaiting_input``; ``InvalidRequest`` for an input that is not a JSON
        object — the execution then keeps waiting.
        """
        execution = self.store.get_execution(execution_id)
        if execution.status is not S.AWAITING_INPUT:
            raise _conflict(
                f"execution {execution_id!r} is {execution.status.value}, not awaiting_input: "
                "only a waiting execution can be resumed"
            )
        _check_resume_input(input)
        run = self._runs.get(execution_id) or self._restore(execution_id, execution.task_id)
        waiter = run.waiter
        if waiter is None:
            try:
                await asyncio.wait_for(run.ready.wait(), RESUME_READY_SECONDS)
            except asyncio.TimeoutError:
                raise _conflict(f"execution {execution_id!r} is not ready to resume") from None
            waiter = run.waiter
        if waiter is None or waiter.answer.done():
            raise _conflict(f"execution {execution_id!r} is already being resumed")
        waiter.answer.set_result(to_data(input))
        await waiter.done  # the `resume` transition is committed when this returns

    async def resume_with_token(self, task_token: str, input: dict[str, Any]) -> None:
        """Resume the execution whose pending ``wait`` carries ``task_token``."""
        execution = self.store.find_waiting_by_token(task_token)
        await self.resume(execution.id, input)

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        """Cancel a queued, running or waiting execution (``Conflict`` if it ended)."""
        execution = self.store.get_execution(execution_id)
        if execution.status.is_terminal:
            raise _conflict(
                f"execution {execution_id!r} is already {execution.status.value}: "
                "only queued, running or waiting executions can be cancelled"
            )
        run = self._runs.get(execution_id)
        if run is not None and run.task is not None and not run.task.done():
            run.cancel_reason = reason
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
            return
        latest = self.store.latest_transition(execution_id)
        at = START if latest is None else _position(latest)
        self._append_end(execution_id, T.CANCELLED, reason or "cancelled", at)

    # ---------------------------------------------------------------- restarts

    def _restore(self, execution_id: str, task_id: str) -> Run:
        """Rebuild a waiting execution from its checkpoint and run it (it resumes its wait)."""
        latest = self.store.latest_transition(execution_id)
        checkpoint = self.store.load_checkpoint(execution_id)
        token = (latest.metadata or {}).get("task_token") if latest is not None else None
        if (
            latest is None
            or latest.type is not T.WAIT
            or checkpoint is None
            or checkpoint.get("token") != token
        ):
            raise _conflict(
                f"execution {execution_id!r} has no checkpoint for its current wait, so it "
                "cannot be resumed here: cancel it and start a new execution"
            )
        spec = checkpoint.get("spec") or self.store.task_spec(task_id)
        run = Run(self.store, execution_id, spec)
        run.restore(checkpoint)
        self._launch(run, restored=True)
        return run

    async def recover(self) -> None:
        """At start: start queued executions, restore waiting ones, fail interrupted ones."""
        # One query (a scan: statuses have no index, see rows.SCHEMA), then by status.
        live = self.store.executions_with_status(
            [S.QUEUED, S.STARTING, S.RUNNING, S.AWAITING_INPUT]
        )
        for execution in live:
            if execution.status is S.QUEUED and execution.id not in self._runs:
                self.start(execution.id)
        for execution in live:
            if execution.status in (S.STARTING, S.RUNNING) and execution.id not in self._runs:
                self._fail_interrupted(execution.id)
        for execution in live:
            if execution.status is not S.AWAITING_INPUT or execution.id in self._runs:
                continue
            try:
                self._restore(execution.id, execution.task_id)
            except Exception as exc:  # a broken checkpoint must not stop the server
                log.warning("execution %s cannot be restored: %s", execution.id, exc)
                latest = self.store.latest_transition(execution.id)
                self._append_end(
                    execution.id,
                    T.CANCELLED,
                    f"cannot be resumed after the server restarted: {exc}",
                    START if latest is None else _position(latest),
                )

    def _fail_interrupted(self, execution_id: str) -> None:
        latest = self.store.latest_transition(execution_id)
        if latest is None:
            return
        cursor = (latest.next or latest.current).model_dump()
        self._append_end(
            execution_id,
            T.ERROR,
            f"the local server stopped while this execution was running (at "
            f"{cursor['workflow']}[{cursor['step']}]); its progress since the last pause was "
            "not saved, so it cannot continue: start a new execution",
            Position(cursor, latest.step_type or "unknown"),
        )

    async def aclose(self) -> None:
        """Stop every execution (shutdown): waiting ones stay resumable after a restart."""
        runs = list(self._runs.values())
        for run in runs:
            run.closing = True
            if run.task is not None:
                run.task.cancel()
        await asyncio.gather(*(r.task for r in runs if r.task is not None), return_exceptions=True)
        for run in runs:
            try:
                status = self.store.get_execution(run.execution_id).status
                if status in (S.STARTING, S.RUNNING):
                    self._fail_interrupted(run.execution_id)
            except Exception as exc:  # the store may already be closing
                log.warning("execution %s not marked as interrupted: %s", run.execution_id, exc)


def _position(transition: Transition) -> Position:
    return Position(
        transition.current.model_dump(), transition.step_type or "unknown", transition.step_label
    )


def _check_resume_input(input: Any) -> None:
    if not isinstance(input, dict):
        raise InvalidRequest(f"resume input must be a JSON object, got {type(input).__name__}")
    try:
        json.dumps(input)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"resume input is not JSON data: {exc}") from None
    if deep_size(input, MAX_RESULT_SIZE) > MAX_RESULT_SIZE:
        raise InvalidRequest(f"resume input is larger than {MAX_RESULT_SIZE:,} characters")
