"""The SQLite store: derived status, transition rules, paging, durability, listeners."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from julep_nb.local.errors import Conflict, InvalidRequest, NotFound
from julep_nb.local.rows import _iso as wire_time
from julep_nb.local.rows import (
    cursor_json,
    dumps,
    execution_from_row,
    execution_json,
    execution_wire,
    metadata_json,
    to_dt,
)
from julep_nb.local.store import Store
from julep_nb.sources.julep.models import ExecutionStatus, Transition, TransitionType

from .conftest import MAIN0, seed_execution, seed_task, step

T = TransitionType


@pytest.fixture
def store() -> Store:
    return Store()


def test_status_output_error_and_count_follow_the_latest_transition(store: Store) -> None:
    execution = seed_execution(store)
    assert (execution.status, execution.transition_count) == (ExecutionStatus.QUEUED, 0)
    expected = [
        (T.INIT, ExecutionStatus.STARTING),
        (T.STEP, ExecutionStatus.RUNNING),
        (T.WAIT, ExecutionStatus.AWAITING_INPUT),
        (T.RESUME, ExecutionStatus.RUNNING),
        (T.ERROR, ExecutionStatus.FAILED),
    ]
    for n, (type_, status) in enumerate(expected, start=1):
        output = {"error": "boom"} if type_ is T.ERROR else {"n": n}
        step(store, execution.id, type_, output)
        got = store.get_execution(execution.id)
        assert (got.status, got.transition_count, got.output) == (status, n, output)
    assert store.get_execution(execution.id).error == "boom"


def test_invalid_transition_is_a_conflict_naming_both_types(store: Store) -> None:
    execution = seed_execution(store)
    with pytest.raises(Conflict, match="'finish'.*first transition"):
        step(store, execution.id, T.FINISH)
    step(store, execution.id, T.INIT)
    step(store, execution.id, T.WAIT)
    with pytest.raises(Conflict, match="'error'.*after 'wait'") as info:
        step(store, execution.id, T.ERROR)
    assert info.value.status == 409
    step(store, execution.id, T.CANCELLED)
    with pytest.raises(Conflict, match="after 'cancelled'"):
        step(store, execution.id, T.STEP)
    # The refused rows were not written.
    assert [t.type for t in store.list_transitions(execution.id)] == [T.INIT, T.WAIT, T.CANCELLED]


def test_timestamps_are_utc_and_strictly_increasing(store: Store) -> None:
    execution = seed_execution(store)
    step(store, execution.id, T.INIT)
    for _ in range(50):
        step(store, execution.id, T.STEP)
    stamps = [t.created_at for t in store.list_transitions(execution.id, limit=100)]
    assert all(s.utcoffset() is not None and s.utcoffset().total_seconds() == 0 for s in stamps)
    assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False))
    assert stamps[0] > execution.created_at


def test_idempotency_key_returns_the_first_execution(store: Store) -> None:
    task_id = seed_task(store)
    first, created = store.create_execution(task_id, {"a": 1}, idempotency_key="k1")
    again, created_again = store.create_execution(task_id, {"a": 2}, idempotency_key="k1")
    other, _ = store.create_execution(task_id, {"a": 1}, idempotency_key="k2")
    assert (created, created_again) == (True, False)
    assert again.id == first.id and again.input == {"a": 1}
    assert other.id != first.id


def test_paging_and_sorting(store: Store) -> None:
    task_id = seed_task(store)
    ids = [store.create_execution(task_id, {"i": i})[0].id for i in range(5)]
    assert [e.id for e in store.list_executions(task_id)] == ids[::-1]
    assert [e.id for e in store.list_executions(task_id, direction="asc", limit=2)] == ids[:2]
    assert [e.id for e in store.list_executions(task_id, direction="asc", offset=3)] == ids[3:]
    step(store, ids[0], T.INIT)  # the oldest becomes the most recently updated
    assert store.list_executions(task_id, sort_by="updated_at")[0].id == ids[0]
    with pytest.raises(InvalidRequest, match="sort_by"):
        store.list_executions(task_id, sort_by="name")


def test_transitions_by_scope_after_seq_and_by_id(store: Store) -> None:
    execution = seed_execution(store)
    step(store, execution.id, T.INIT)
    scoped = {"workflow": "main", "step": 1, "scope_id": "s1"}
    branch = store.append_transition(
        execution.id, type=T.INIT_BRANCH, output=1, current=scoped, next=scoped
    )
    step(store, execution.id, T.STEP)
    assert store.list_transitions(execution.id, scope_id="s1") == [branch]
    after = store.transitions_after(execution.id, 1)
    assert [seq for seq, _ in after] == [2, 3]
    assert store.get_transition(execution.id, branch.id) == branch
    assert store.latest_transition(execution.id).type is T.STEP  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        store.get_transition(execution.id, "nope")


def test_unknown_ids_are_not_found(store: Store) -> None:
    for call in (
        lambda: store.get_agent("a"),
        lambda: store.get_task("t"),
        lambda: store.get_execution("e"),
        lambda: store.create_execution("t", {}),
        lambda: store.create_task("a", {"name": "x", "main": []}),
        lambda: store.update_task("t", {"name": "x", "main": []}),
        lambda: step(store, "e", T.INIT),
        lambda: store.list_transitions("e"),
    ):
        with pytest.raises(NotFound) as info:
            call()
        assert info.value.status == 404


def test_task_keeps_subworkflows_and_update_replaces_the_spec(store: Store) -> None:
    agent = store.create_agent({"name": "a", "id": "ignored"})
    assert agent.id != "ignored"
    task = store.create_task(agent.id, {"name": "t", "main": [], "helper": [{"log": "x"}]})
    assert task.model_extra == {"helper": [{"log": "x"}]}
    updated = store.update_task(task.id, {"name": "t2", "main": [{"log": "y"}]})
    assert (updated.name, updated.created_at) == ("t2", task.created_at)
    assert store.get_task(task.id).main == [{"log": "y"}]
    made = store.update_task("fixed-id", {"name": "n", "main": []}, agent_id=agent.id)
    assert made.id == "fixed-id" and store.list_tasks(agent.id)[0].id == "fixed-id"
    with pytest.raises(Conflict):
        store.create_task(agent.id, {"name": "n", "main": []}, task_id="fixed-id")


def test_task_token_finds_only_the_current_wait(store: Store) -> None:
    execution = seed_execution(store)
    step(store, execution.id, T.INIT)
    store.append_transition(
        execution.id,
        type=T.WAIT,
        output={},
        current=MAIN0,
        next=MAIN0,
        metadata={"task_token": "tok-1"},
    )
    assert store.find_waiting_by_token("tok-1").id == execution.id
    step(store, execution.id, T.RESUME)
    with pytest.raises(Conflict, match="already answered"):
        store.find_waiting_by_token("tok-1")
    with pytest.raises(NotFound):
        store.find_waiting_by_token("tok-unknown")


def test_listeners_see_every_commit_in_order_and_can_unsubscribe(store: Store) -> None:
    seen: list[tuple[int, TransitionType]] = []
    remove = store.add_listener(lambda t, seq: seen.append((seq, t.type)))
    store.add_listener(lambda t, seq: 1 / 0)  # a broken listener does not break commits
    execution = seed_execution(store)
    step(store, execution.id, T.INIT)
    step(store, execution.id, T.STEP)
    remove()
    step(store, execution.id, T.FINISH)
    assert seen == [(1, T.INIT), (2, T.STEP)]


def test_a_listener_may_want_some_executions_only(store: Store) -> None:
    first, second = seed_execution(store), seed_execution(store)
    seen: list[tuple[str, TransitionType, object]] = []
    store.add_listener(
        lambda t, seq: seen.append((t.execution_id, t.type, t.output)),
        wants=lambda execution_id: execution_id == second.id,
    )
    for execution in (first, second):
        store.write_transition(  # as the engine writes: no transition returned
            execution.id, type=T.INIT, output={"n": 1}, current=MAIN0, next=MAIN0
        )
    assert seen == [(second.id, T.INIT, {"n": 1})]
    assert store.get_execution(first.id).status.value == "starting"


def test_concurrent_writers_get_distinct_sequence_numbers(store: Store) -> None:
    execution = seed_execution(store)
    step(store, execution.id, T.INIT)
    seqs: list[int] = []
    store.add_listener(lambda t, seq: seqs.append(seq))

    def write() -> None:
        for _ in range(50):
            step(store, execution.id, T.STEP)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seqs == list(range(2, 202))  # notified in commit order, no gaps


def test_file_store_survives_reopen_with_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "julep.db"
    with Store(path) as store:
        execution = seed_execution(store)
        step(store, execution.id, T.INIT)
        step(store, execution.id, T.WAIT, {"question": "?"})
        store.save_checkpoint(execution.id, {"workflow": "main", "step": 3})
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    with sqlite3.connect(path) as db:  # a file of an earlier release had a status index
        db.execute("CREATE INDEX executions_by_status ON executions (status)")
    with Store(path) as store:
        # Opening drops it: every status change rewrote one of its pages.
        indexes = "SELECT name FROM sqlite_master WHERE type = 'index'"
        assert "executions_by_status" not in {r[0] for r in store._db.execute(indexes)}
        waiting = store.executions_with_status([ExecutionStatus.AWAITING_INPUT])
        assert [e.id for e in waiting] == [execution.id]
        assert waiting[0].output == {"question": "?"}
        assert store.load_checkpoint(execution.id) == {"workflow": "main", "step": 3}
        assert store.load_checkpoint("other") is None
        assert step(store, execution.id, T.RESUME) == 3


def test_outputs_that_are_not_json_are_refused_with_the_type(store: Store) -> None:
    execution = seed_execution(store)
    with pytest.raises(TypeError, match="type object"):
        step(store, execution.id, T.INIT, object())
    assert store.get_execution(execution.id).transition_count == 0


def test_transition_objects_round_trip(store: Store) -> None:
    execution = seed_execution(store)
    made = store.append_transition(
        execution.id,
        type=T.INIT,
        output={"x": [1, 2]},
        current=MAIN0,
        next=MAIN0,
        step_label="first",
        metadata={"step_type": "evaluate"},
    )
    assert isinstance(made, Transition)
    assert store.list_transitions(execution.id) == [made]
    assert made.step_type == "evaluate" and made.step_label == "first"


def test_two_stores_on_one_file_keep_the_order(tmp_path: Path) -> None:
    # Each store caches the head of live executions; a write through the other
    # store makes that cache stale, which must be noticed, not trusted.
    path = tmp_path / "shared.db"
    with Store(path) as first, Store(path) as second:
        execution = seed_execution(first)
        step(first, execution.id, T.INIT)
        step(second, execution.id, T.STEP)
        assert step(first, execution.id, T.STEP) == 3
        step(second, execution.id, T.WAIT)
        with pytest.raises(Conflict, match="after 'wait'"):
            step(first, execution.id, T.ERROR)
        second.update_task(execution.task_id, {"name": "renamed", "main": []})
        assert second.get_task(execution.task_id).name == "renamed"
        assert [t.type for t in first.list_transitions(execution.id)] == [
            T.INIT,
            T.STEP,
            T.STEP,
            T.WAIT,
        ]


def test_an_executions_agent_names_follow_agent_and_tool_changes(store: Store) -> None:
    agent = store.create_agent({"name": "first", "about": "a"})
    names = store.agent_names(agent.id)
    assert names["agent"]["name"] == "first" and names["agent_tools"] == []
    assert store.agent_names(agent.id) is names  # read once for the agent's executions
    store.update_agent(agent.id, {"name": "second"}, merge=True)
    assert store.agent_names(agent.id)["agent"]["name"] == "second"
    tool = {"name": "lookup", "type": "function", "function": {"parameters": {}}}
    store.agent_tools.create(agent.id, tool)
    assert [t["name"] for t in store.agent_names(agent.id)["agent_tools"]] == ["lookup"]
    with pytest.raises(NotFound):
        store.agent_names("no-such-agent")


@pytest.mark.parametrize(
    "row",
    [
        ("e1", "t1", '{"x":1}', None, 1_767_225_600_000_000, 1_767_225_600_000_001,
         "queued", 0, None, None),
        ("e2", "t'\"2", '{"s":"\\u00e9\\n"}', '{"row":3}', 1_767_225_600_123_456,
         1_767_225_601_000_000, "failed", 4, '"boom"', 'bad "quote"\nline'),
        ("e3", "t3", "{}", "{}", 5, 6, "succeeded", 3, '[1,2.5,{"a":null}]', None),
        ("e4", "t4", '{"n":0}', None, 7, 8, "awaiting_input", 2, "0", None),
    ],
)  # fmt: skip
def test_execution_json_is_the_wire_execution(row: tuple[object, ...]) -> None:
    wire = execution_from_row(row).to_wire()
    assert json.loads(execution_json(row)) == wire
    assert execution_wire(row) == wire
    assert list(execution_wire(row)) == list(wire)  # the names expressions see, in order


def test_wire_times_are_the_datetimes_isoformat() -> None:
    # Both sides of a second boundary, a whole second, and times across the years.
    edges = [0, 1, 999_999, 1_000_000, 1_767_225_599_999_999, 1_767_225_600_000_000]
    spread = [i * 7_919_000_123_457 for i in range(2_000)]
    for us in edges + spread:
        assert wire_time(us) == to_dt(us).isoformat().replace("+00:00", "Z"), us


@pytest.mark.parametrize(
    "cursor",
    [
        {"workflow": "main", "step": 0, "scope_id": None},
        {"workflow": 'main[2].foreach[0]"é', "step": 12, "scope_id": "5f0c-\u2028"},
        {"workflow": "main", "step": True, "scope_id": None},  # not an int: the encoder's text
        {"workflow": "main", "step": 1, "scope_id": 7, "extra": 1},
    ],
)
def test_a_cursors_json_is_what_the_encoder_writes(cursor: dict[str, object]) -> None:
    assert cursor_json(cursor) == dumps(cursor)


@pytest.mark.parametrize(
    "metadata",
    [None, {"step_type": "evaluate"}, {"step_type": "é\n"}, {"step_type": 1}, {"log": "x"},
     {"step_type": "log", "log": "hi"}],
)  # fmt: skip
def test_a_transitions_metadata_json_is_what_the_encoder_writes(
    metadata: dict[str, object] | None,
) -> None:
    assert metadata_json(metadata) == (None if metadata is None else dumps(metadata))


def _row_in_file(store: Store, execution_id: str) -> tuple[object, ...]:
    from julep_nb.local.rows import EXECUTION_COLUMNS

    select = f"SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?"
    row: tuple[object, ...] = store._db.execute(select, (execution_id,)).fetchone()
    return row


def test_an_ended_execution_is_read_as_stored_without_the_database(tmp_path: Path) -> None:
    with Store(tmp_path / "ended.db") as store:
        task_id = seed_task(store)
        made = [store.create_execution(task_id, {"n": i}, {"m": i})[0] for i in range(3)]
        for execution, final in zip(made, (T.FINISH, T.ERROR, T.CANCELLED), strict=True):
            step(store, execution.id, T.INIT)
            step(store, execution.id, final, {"out": execution.id})
        running = made[0].id
        for execution in made:
            kept = store._ended.get(execution.id)
            assert kept == _row_in_file(store, execution.id)  # the row, column for column
        # Reads answer from it: the database is not asked (closed under it, to be sure).
        db, store._db = store._db, None  # type: ignore[assignment]
        try:
            assert store.get_execution(running).status is ExecutionStatus.SUCCEEDED
            text, status = store.get_execution_json(made[1].id)
            assert status is ExecutionStatus.FAILED and json.loads(text)["input"] == {"n": 1}
        finally:
            store._db = db


def test_only_the_latest_ended_executions_are_kept(tmp_path: Path) -> None:
    from julep_nb.local.ended import EndedRows

    with Store(tmp_path / "ended.db") as store:
        store._ended = EndedRows(keep=2)
        task_id = seed_task(store)
        made = [store.create_execution(task_id, {"n": i})[0] for i in range(3)]
        live = store.create_execution(task_id, {"n": 9})[0]
        step(store, live.id, T.INIT)
        for execution in made:
            step(store, execution.id, T.INIT)
            step(store, execution.id, T.FINISH, {"n": 1})
        assert store._ended.get(made[0].id) is None and store._ended.get(live.id) is None
        assert [store._ended.get(e.id) is not None for e in made[1:]] == [True, True]
        # The others are read from the file, and agree.
        assert store.get_execution(made[0].id).status is ExecutionStatus.SUCCEEDED
        assert store.get_execution(live.id).status is ExecutionStatus.STARTING


def test_executions_another_connection_ends_leave_a_bounded_trace(tmp_path: Path) -> None:
    from julep_nb.local.ended import EndedRows

    path = tmp_path / "two.db"
    with Store(path) as store, Store(path) as other:
        store._ended = EndedRows(keep=8, born=3)
        task_id = seed_task(store)
        made = [store.create_execution(task_id, {"n": i})[0] for i in range(5)]
        for execution in made:  # ended through the other connection: never seen here
            step(other, execution.id, T.INIT)
            step(other, execution.id, T.FINISH, {"n": 1})
        assert len(store._ended._born) == 3  # the oldest were let go
        for execution in made:  # and every read still agrees with the file
            assert store.get_execution(execution.id).status is ExecutionStatus.SUCCEEDED
        mine = store.create_execution(task_id, {"n": 9})[0]
        step(store, mine.id, T.INIT)
        step(store, mine.id, T.FINISH, {"n": 2})
        assert store._ended.get(mine.id) == _row_in_file(store, mine.id)


@pytest.mark.parametrize(
    "value",
    [None, 0, -2.5, 'é\n"', [1, [2, {"k": None}]], {"z": 1, "a": [True, False]}, (1, "t")],
)
def test_column_json_is_compact_standard_json(value: object) -> None:
    expected = json.dumps(value, separators=(",", ":"))
    assert dumps(value) == expected
    assert json.loads(dumps(value)) == json.loads(expected)


def test_a_value_holding_itself_is_refused_with_its_type() -> None:
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(TypeError, match="dict that contains itself"):
        dumps({"out": looped})
