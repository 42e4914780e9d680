"""Group commit: transitions of one loop turn share a COMMIT; nothing is told before it.

Every test watches the database through a second, independent SQLite connection,
which sees only what was committed: what a restarted server would find.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from julep_nb.local.errors import Conflict
from julep_nb.local.store import Store
from julep_nb.sources.julep.models import ExecutionStatus, TransitionType

from .conftest import MAIN0, seed_execution

_FINAL = (TransitionType.FINISH, TransitionType.ERROR, TransitionType.CANCELLED)

T = TransitionType


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "group.db"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with Store(path) as store:
        yield store


def step(store: Store, execution_id: str, type: TransitionType, output: object = None) -> None:
    """Append one transition as the engine does (no read after it)."""
    store.append_transition(
        execution_id,
        type=type,
        output=output,
        current=MAIN0,
        next=None if type in _FINAL else MAIN0,
    )


def committed(path: Path, execution_id: str) -> list[str]:
    """The transition types a fresh connection finds, in order."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT type FROM transitions WHERE execution_id = ? ORDER BY seq", (execution_id,)
        ).fetchall()
    return [r[0] for r in rows]


def committed_status(path: Path, execution_id: str) -> str:
    with sqlite3.connect(path) as db:
        return str(
            db.execute("SELECT status FROM executions WHERE id = ?", (execution_id,)).fetchone()[0]
        )


async def test_a_turns_transitions_are_committed_together_then_told(
    store: Store, path: Path
) -> None:
    first, second = seed_execution(store), seed_execution(store)
    told: list[tuple[str, int, list[str]]] = []
    # A listener records what a fresh connection could see when it was told.
    store.add_listener(
        lambda t, seq: told.append((t.execution_id, seq, committed(path, t.execution_id)))
    )
    store.group_commits(asyncio.get_running_loop())
    try:
        for kind in (T.INIT, T.STEP, T.FINISH):
            step(store, first.id, kind)
            step(store, second.id, kind)
        assert committed(path, first.id) == [] and told == []  # not yet: the turn goes on
        assert store._ended.get(first.id) is None  # nor is its final row kept yet
        await asyncio.sleep(0)  # the turn ends: one commit for all six
        kept = store._ended.get(first.id)
        assert kept is not None and kept[6] == "succeeded" and kept[7] == 3
        assert committed(path, first.id) == ["init", "step", "finish"]
        assert committed(path, second.id) == ["init", "step", "finish"]
        assert committed_status(path, first.id) == "succeeded"
        assert [(e, s) for e, s, _ in told] == [
            (first.id, 1),
            (second.id, 1),
            (first.id, 2),
            (second.id, 2),
            (first.id, 3),
            (second.id, 3),
        ]
        # Every listener call came after its transition was committed.
        assert all(len(seen) == 3 for _, _, seen in told)
    finally:
        store.group_commits(None)


async def test_a_read_or_another_write_commits_the_open_group_first(
    store: Store, path: Path
) -> None:
    execution = seed_execution(store)
    store.group_commits(asyncio.get_running_loop())
    try:
        step(store, execution.id, T.INIT)
        step(store, execution.id, T.STEP, {"x": 1})
        # A read answers only from committed rows.
        assert store.get_execution(execution.id).transition_count == 2
        assert committed(path, execution.id) == ["init", "step"]
        step(store, execution.id, T.STEP)
        store.save_checkpoint(execution.id, {"at": 3})  # any other write: same
        assert committed(path, execution.id) == ["init", "step", "step"]
        # A write from another thread commits the loop's group, then its own, in order.
        step(store, execution.id, T.STEP)
        worker = threading.Thread(target=step, args=(store, execution.id, T.FINISH))
        worker.start()
        worker.join(5)
        assert committed(path, execution.id) == ["init", "step", "step", "step", "finish"]
    finally:
        store.group_commits(None)


async def test_reading_an_execution_the_group_did_not_write_leaves_the_group_open(
    store: Store, path: Path
) -> None:
    done, busy = seed_execution(store), seed_execution(store)
    for kind in (T.INIT, T.FINISH):
        step(store, done.id, kind)
    task_id = done.task_id
    store.group_commits(asyncio.get_running_loop())
    try:
        step(store, busy.id, T.INIT)
        made, _ = store.create_execution(task_id, {"n": 1})
        # An execution the group did not write is read as committed; the group goes on.
        assert store.get_execution(done.id).status is ExecutionStatus.SUCCEEDED
        assert store.get_execution_json(done.id)[1] is ExecutionStatus.SUCCEEDED
        assert committed(path, busy.id) == []
        # One it wrote, or made, is committed before it is read.
        assert store.get_execution(made.id).status is ExecutionStatus.QUEUED
        assert committed(path, busy.id) == ["init"]
        step(store, busy.id, T.STEP)
        assert store.get_execution_json(busy.id)[1] is ExecutionStatus.RUNNING
        assert committed(path, busy.id) == ["init", "step"]
    finally:
        store.group_commits(None)


async def test_a_refused_transition_leaves_the_rest_of_the_group(store: Store, path: Path) -> None:
    execution, other = seed_execution(store), seed_execution(store)
    store.group_commits(asyncio.get_running_loop())
    try:
        step(store, other.id, T.INIT)
        step(store, execution.id, T.INIT)
        step(store, execution.id, T.FINISH)
        with pytest.raises(Conflict, match="after 'finish'"):
            step(store, execution.id, T.STEP)  # the group's own head is checked
        step(store, other.id, T.STEP)
        await asyncio.sleep(0)
        assert committed(path, execution.id) == ["init", "finish"]
        assert committed(path, other.id) == ["init", "step"]
        assert store.get_execution(other.id).status is ExecutionStatus.RUNNING
    finally:
        store.group_commits(None)


async def test_a_head_moved_by_another_store_is_noticed_in_a_group(path: Path) -> None:
    with Store(path) as first, Store(path) as second:
        execution = seed_execution(first)
        step(first, execution.id, T.INIT)  # `first` caches the head at 1
        step(second, execution.id, T.WAIT)  # … which another connection moves to 2
        first.group_commits(asyncio.get_running_loop())
        try:
            with pytest.raises(Conflict, match="after 'wait'"):
                step(first, execution.id, T.ERROR)  # valid after `init`, not after `wait`
            step(first, execution.id, T.RESUME)
            step(first, execution.id, T.FINISH)
            await asyncio.sleep(0)
        finally:
            first.group_commits(None)
        assert committed(path, execution.id) == ["init", "wait", "resume", "finish"]


async def test_closing_the_store_commits_the_open_group(path: Path) -> None:
    store = Store(path)
    execution = seed_execution(store)
    store.group_commits(asyncio.get_running_loop())
    step(store, execution.id, T.INIT)
    store.close()
    assert committed(path, execution.id) == ["init"]


async def test_a_new_execution_joins_the_group_and_committed_waits_for_it(
    store: Store, path: Path
) -> None:
    task_id = seed_execution(store).task_id
    store.group_commits(asyncio.get_running_loop())
    try:
        made, created = store.create_execution(task_id, {"n": 2}, idempotency_key="k1")
        again, created_again = store.create_execution(task_id, {"n": 2}, idempotency_key="k1")
        assert created and not created_again and again.id == made.id  # seen inside the group
        with sqlite3.connect(path) as db:
            count = "SELECT count(*) FROM executions WHERE id = ?"
            assert db.execute(count, (made.id,)).fetchone()[0] == 0
            await store.committed()
            assert db.execute(count, (made.id,)).fetchone()[0] == 1
        assert store.committed().done()  # nothing open: no wait
    finally:
        store.group_commits(None)


async def test_new_executions_wait_one_turn_for_their_first_transitions(
    store: Store, path: Path
) -> None:
    task_id = seed_execution(store).task_id
    loop = asyncio.get_running_loop()
    store.group_commits(loop)
    try:
        made, _ = store.create_execution(task_id, {"n": 1})
        done = store.committed()
        # The engine starts an execution in the turn after its creation, as here.
        loop.call_soon(lambda: [step(store, made.id, kind) for kind in (T.INIT, T.FINISH)])
        await asyncio.sleep(0)  # that turn: nothing committed yet
        count = "SELECT count(*) FROM executions WHERE id = ?"
        with sqlite3.connect(path) as db:
            assert db.execute(count, (made.id,)).fetchone()[0] == 0
        await done  # the row and its transitions, in one commit
        with sqlite3.connect(path) as db:
            assert db.execute(count, (made.id,)).fetchone()[0] == 1
        assert committed(path, made.id) == ["init", "finish"]
        # A group with transitions from the start commits at the end of its turn.
        other = seed_execution(store)
        step(store, other.id, T.INIT)
        await asyncio.sleep(0)
        assert committed(path, other.id) == ["init"]
    finally:
        store.group_commits(None)
