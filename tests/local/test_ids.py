"""Row ids: canonical UUID7 strings, ordered by time, never repeated, not even across a fork."""

from __future__ import annotations

import multiprocessing
import time
import uuid

from julep_nb.local.ids import new_id


def test_ids_are_canonical_version_7_uuids_and_all_different() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for text in ids[:2_000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after  # the time they were made, in ms


def test_an_id_made_in_a_later_millisecond_sorts_later() -> None:
    first = new_id()
    time.sleep(0.002)
    assert new_id() > first and uuid.UUID(new_id()) > uuid.UUID(first)


def _child_ids(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([new_id() for _ in range(100)])


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_ids, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(30)
    ours = [new_id() for _ in range(100)]
    assert not set(theirs) & set(ours)
