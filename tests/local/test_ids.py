"""Row ids: canonical random UUID4 strings, never repeated, not even across a fork."""

from __future__ import annotations

import multiprocessing
import uuid

from julep_nb.local.ids import new_id


def test_ids_are_canonical_version_4_uuids_and_all_different() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2_000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


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
