"""Frames: the running lists of steps of an execution, as plain, checkpointable data.

``main`` and each called subworkflow get a *workflow frame*, which owns
``state`` and the ``inputs``/``outputs``/``steps`` records that expressions
see; the bodies of ``if``/``switch``/``foreach``/``map``/``parallel`` get
*branch frames*, whose ``_`` is their own but whose other names come from the
enclosing workflow frame (as in Julep, where ``steps[0].input`` inside a
foreach body is the task's input).

A step in flight keeps its progress (child frames, results so far, a pending
wait) in ``frame.progress``, updated right after each transition is
committed; so the frame tree serialised as JSON is a checkpoint, and a
restored tree continues where the transitions left off.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from julep_nb.local.ids import new_id
from julep_nb.local.validate import step_list

__all__ = ["Frame", "resolve_steps", "to_data"]


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
            scope_id=new_id(),
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
            scope_id=new_id(),
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
