"""Wire models: status derivation, transition rules, real-server and SDK payloads."""

from __future__ import annotations

import itertools
import json

import pydantic
import pytest

from julep_nb.sources.julep import models as m
from julep_nb.sources.julep import requests as r
from julep_nb.sources.julep.models import (
    TERMINAL_STATUSES,
    Execution,
    ExecutionStatus,
    ExecutionStatusEvent,
    Transition,
    TransitionType,
    is_valid_transition,
    status_for,
)

T = TransitionType
S = ExecutionStatus

EXPECTED_STATUS = {
    None: S.QUEUED,
    T.INIT: S.STARTING,
    T.INIT_BRANCH: S.RUNNING,
    T.RESUME: S.RUNNING,
    T.STEP: S.RUNNING,
    T.FINISH_BRANCH: S.RUNNING,
    T.WAIT: S.AWAITING_INPUT,
    T.FINISH: S.SUCCEEDED,
    T.ERROR: S.FAILED,
    T.CANCELLED: S.CANCELLED,
}


@pytest.mark.parametrize("transition_type", list(EXPECTED_STATUS))
def test_status_for_every_transition_type(transition_type: TransitionType | None) -> None:
    assert status_for(transition_type) is EXPECTED_STATUS[transition_type]
    if transition_type is not None:
        assert status_for(transition_type.value) is EXPECTED_STATUS[transition_type]


def test_terminal_statuses_are_exactly_the_end_states() -> None:
    assert TERMINAL_STATUSES == {S.SUCCEEDED, S.FAILED, S.CANCELLED}
    julep_ends = [s for s in m.JULEP_STATUSES if s.is_terminal]
    assert julep_ends == [S.SUCCEEDED, S.FAILED, S.CANCELLED]


def test_a_julep_execution_cannot_report_a_status_julep_does_not_have() -> None:
    with pytest.raises(pydantic.ValidationError, match="not a Julep execution status"):
        m.Execution.model_validate(
            {"id": "e", "task_id": "t", "status": "terminated", "created_at": "2024-01-01T00:00Z"}
        )


# The rule table of DESIGN.md §1, written out independently of the implementation.
ALLOWED = {
    None: "init init_branch error cancelled",
    T.INIT: "wait error step cancelled init_branch finish",
    T.INIT_BRANCH: "wait error step cancelled init_branch finish_branch finish",
    T.WAIT: "resume step cancelled finish finish_branch",
    T.RESUME: "wait error cancelled step finish finish_branch init_branch",
    T.STEP: "wait error cancelled step finish finish_branch init_branch",
    T.FINISH_BRANCH: "wait error cancelled step finish init_branch finish_branch",
    T.FINISH: "",
    T.ERROR: "",
    T.CANCELLED: "",
}


@pytest.mark.parametrize(("previous", "nxt"), list(itertools.product([None, *T], list(T))))
def test_every_transition_pair(previous: TransitionType | None, nxt: TransitionType) -> None:
    expected = nxt.value in ALLOWED[previous].split()
    assert is_valid_transition(previous, nxt) is expected
    assert is_valid_transition(previous.value if previous else None, nxt.value) is expected


def test_pair_table_size() -> None:
    # 9x9 pairs plus 9 first-transition checks, 43 of which are allowed
    pairs = list(itertools.product([None, *T], list(T)))
    assert len(pairs) == 90
    assert sum(is_valid_transition(p, n) for p, n in pairs) == 43


def test_wait_cannot_error_and_terminal_states_are_final() -> None:
    assert not is_valid_transition(T.WAIT, T.ERROR)
    for end in (T.FINISH, T.ERROR, T.CANCELLED):
        assert not any(is_valid_transition(end, n) for n in T)


def test_unknown_transition_type_is_rejected() -> None:
    with pytest.raises(ValueError):
        is_valid_transition(None, "explode")


# Shapes as the real v1 server returns them.
REAL_EXECUTION = """{
  "id": "067f1c2a-6c4e-7a1b-8000-1a2b3c4d5e6f",
  "task_id": "067f1c29-0000-7000-8000-000000000001",
  "status": "awaiting_input",
  "input": {"topic": "otters"},
  "output": {"info": {"message": "approve?"}},
  "error": null,
  "transition_count": 3,
  "metadata": {},
  "created_at": "2025-04-16T10:00:00.123456Z",
  "updated_at": "2025-04-16T10:00:02.5+00:00"
}"""

REAL_TRANSITION = """{
  "id": "067f1c2b-1111-7000-8000-000000000002",
  "execution_id": "067f1c2a-6c4e-7a1b-8000-1a2b3c4d5e6f",
  "type": "step",
  "output": {"x": 1},
  "current": {"workflow": "main", "step": 0, "scope_id": "067f1c2b-0000-7000-8000-0000000000aa"},
  "next": {"workflow": "main", "step": 1, "scope_id": "067f1c2b-0000-7000-8000-0000000000aa"},
  "step_label": null,
  "metadata": {"step_type": "EvaluateStep"},
  "created_at": "2025-04-16T10:00:01.000001Z",
  "updated_at": "2025-04-16T10:00:01.000001Z",
  "task_token": null
}"""


def test_real_server_execution_parses() -> None:
    execution = Execution.model_validate_json(REAL_EXECUTION)
    assert execution.status is S.AWAITING_INPUT
    assert execution.output == {"info": {"message": "approve?"}}
    assert execution.created_at.tzinfo is not None


def test_real_server_transition_parses_with_cursor_and_unknown_fields() -> None:
    transition = Transition.model_validate_json(REAL_TRANSITION)
    assert transition.type is T.STEP
    assert str(transition.current) == "main[0]"
    assert transition.next is not None and transition.next.step == 1
    assert transition.step_type == "EvaluateStep"
    # unknown fields are kept, not rejected
    assert transition.model_extra == {"task_token": None}


def test_final_transition_has_no_next() -> None:
    data = json.loads(REAL_TRANSITION) | {"type": "finish", "next": None}
    assert Transition.model_validate(data).next is None


def test_status_event_without_id_task_id_created_at() -> None:
    # what the real status.stream sends
    event = ExecutionStatusEvent.model_validate(
        {
            "execution_id": "e1",
            "status": "running",
            "updated_at": "2025-04-16T10:00:01Z",
            "error": None,
            "transition_count": 2,
            "metadata": {},
        }
    )
    assert event.status is S.RUNNING
    assert event.transition_count == 2


def test_status_event_from_local_server_carries_execution_fields() -> None:
    data = json.loads(REAL_EXECUTION) | {"execution_id": "067f1c2a-6c4e-7a1b-8000-1a2b3c4d5e6f"}
    event = ExecutionStatusEvent.model_validate(data)
    assert event.model_extra is not None and event.model_extra["task_id"].startswith("067f1c29")
    # the same payload is a valid Execution, which is what the official SDK expects
    assert Execution.model_validate(data).id == event.execution_id


def test_put_execution_answers_null() -> None:
    # PUT /executions/{id} answers "200 null": nothing to parse, and no model accepts it
    assert json.loads("null") is None
    with pytest.raises(pydantic.ValidationError):
        Execution.model_validate(None)


def test_page_of_transitions() -> None:
    page = r.Page[Transition].model_validate({"items": [json.loads(REAL_TRANSITION)]})
    assert page.items[0].execution_id.startswith("067f1c2a")
    assert r.Page[Transition].model_validate({"items": []}).items == []


def test_error_body() -> None:
    body = r.ErrorBody.model_validate(
        {"error": {"message": "Execution not found", "code": "not_found", "type": "http_error"}}
    )
    assert body.error.message == "Execution not found"


def test_requests_serialise_as_the_server_expects() -> None:
    assert r.ResumeExecutionRequest(input={"a": 1}).to_wire() == {
        "status": "running",
        "input": {"a": 1},
    }
    assert r.StopExecutionRequest(reason="enough").to_wire() == {
        "status": "cancelled",
        "reason": "enough",
    }
    with pytest.raises(ValueError, match="status 'running'"):
        r.ResumeExecutionRequest(status=S.CANCELLED)
    assert r.CreateExecutionRequest(input={"x": 1}).to_wire() == {
        "input": {"x": 1},
        "metadata": None,
    }
    assert r.TaskTokenResumeRequest(task_token="t", input={}).to_wire()["task_token"] == "t"


def test_task_keeps_subworkflows_as_extra_keys() -> None:
    task = m.Task.model_validate(
        {
            "id": "t1",
            "name": "demo",
            "main": [{"workflow": "helper"}],
            "helper": [{"evaluate": {"x": "$ 1"}}],
            "tools": None,
        }
    )
    assert task.tools == []
    assert task.model_extra == {"helper": [{"evaluate": {"x": "$ 1"}}]}


# --- objects produced by the official SDK's own models round-trip through ours


def test_sdk_execution_round_trips() -> None:
    from julep.types.execution import Execution as SDKExecution

    sdk = SDKExecution.construct(
        id="e1",
        task_id="t1",
        status="succeeded",
        input={"a": 1},
        output={"b": 2},
        created_at="2025-04-16T10:00:00Z",
        updated_at="2025-04-16T10:00:05Z",
        transition_count=4,
    )
    sdk = SDKExecution.model_validate(sdk.model_dump())
    ours = Execution.model_validate(sdk.model_dump(mode="json"))
    assert ours.status is S.SUCCEEDED and ours.output == {"b": 2}
    back = SDKExecution.model_validate(ours.to_wire())
    assert back.model_dump() == sdk.model_dump()


def test_sdk_transition_round_trips() -> None:
    from julep.types.transition import Transition as SDKTransition

    sdk = SDKTransition.model_validate(json.loads(REAL_TRANSITION))
    ours = Transition.model_validate(sdk.model_dump(mode="json"))
    assert ours.type is T.STEP and ours.current.scope_id == sdk.current.scope_id
    back = SDKTransition.model_validate(ours.to_wire())
    assert back.model_dump(exclude={"task_token"}) == sdk.model_dump(exclude={"task_token"})


def test_sdk_task_and_agent_round_trip() -> None:
    from julep.types.agent import Agent as SDKAgent
    from julep.types.task import Task as SDKTask

    agent = SDKAgent.model_validate(
        {
            "id": "a1",
            "name": "nb",
            "created_at": "2025-04-16T10:00:00Z",
            "updated_at": "2025-04-16T10:00:00Z",
        }
    )
    assert m.Agent.model_validate(agent.model_dump(mode="json")).name == "nb"
    task = SDKTask.model_validate(
        {
            "id": "t1",
            "name": "demo",
            "main": [{"evaluate": {"x": "$ 1 + 1"}}],
            "created_at": "2025-04-16T10:00:00Z",
            "updated_at": "2025-04-16T10:00:00Z",
            "inherit_tools": False,
            "tools": [],
        }
    )
    ours = m.Task.model_validate(task.model_dump(mode="json"))
    assert ours.main[0]["evaluate"] == {"x": "$ 1 + 1"}
    assert SDKTask.model_validate(ours.to_wire()).name == "demo"
