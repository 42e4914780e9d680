"""The batch panel: paced widget messages, the final HTML, waits with Open, Cancel all."""

from __future__ import annotations

import asyncio

from julep_nb.batch import run_many
from julep_nb.display.batch_panel import BatchPanel, render_batch, render_batch_text, show_batch
from julep_nb.live.events import ExecutionStatus
from julep_nb.sources.julep.client import Client
from tests.batch.conftest import FLAKY_TASK, SLOW_TASK, WAIT_TASK, new_task

S = ExecutionStatus


async def test_messages_are_paced_and_the_end_is_shown(client: Client) -> None:
    task_id = await new_task(client, FLAKY_TASK)
    batch = await run_many(task_id, [{"n": i} for i in range(400)], client=client, concurrency=32)
    panel = BatchPanel(batch, refresh_rate=5.0)
    sent: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()
    last = [panel.messages]  # the first render went out with the display

    def count() -> None:
        sent.append((loop.time(), panel.messages - last[0]))
        last[0] = panel.messages

    panel.on_update(count)
    began = loop.time()
    await asyncio.wait_for(batch, 120)
    # `await batch` returned after the panel showed the end
    assert panel.widget is not None and "(done)" in panel.live.value
    assert panel.cancel_button.disabled
    duration = loop.time() - began
    assert panel.messages <= 5.0 * duration + 5  # never more than refresh_rate a second
    for i, (at, _n) in enumerate(sent):
        # times are taken mid-render: allow its jitter at the window's edge
        in_window = sum(n for t, n in sent[i:] if t - at < 0.95)
        assert in_window <= 5, str([(round(t - began, 3), n) for t, n in sent])
    html = render_batch(batch)
    assert "succeeded" in html and "Failures" in html and "division" in html.lower()
    assert "Batch of 400 (done" in render_batch_text(batch)


async def test_waiting_executions_can_be_opened_and_answered(client: Client) -> None:
    task_id = await new_task(client, WAIT_TASK)
    batch = await run_many(task_id, [{"n": i} for i in range(3)], client=client)
    panel = BatchPanel(batch, refresh_rate=20.0)
    async with asyncio.timeout(30):
        while len(panel.waiting_box.children) < 3:
            await asyncio.sleep(0.05)
    assert "ok 0?" in panel.waiting_box.children[0].children[1].value
    opened = panel.open(1)
    assert opened is not None and opened.handle.id == batch[1].id
    for i in range(3):
        await batch[i].resume({"answer": i})
    states = await asyncio.wait_for(batch, 30)
    assert [s.output for s in states] == [{"answer": i} for i in range(3)]
    assert panel.waiting_box.children == ()


async def test_cancel_all_button(client: Client) -> None:
    task_id = await new_task(client, SLOW_TASK)
    batch = await run_many(task_id, [{"n": i} for i in range(20)], client=client, concurrency=4)
    panel = BatchPanel(batch)
    async with asyncio.timeout(30):
        while batch.status_counts.get(S.RUNNING, 0) < 4:
            await asyncio.sleep(0.05)
    panel.cancel_button.click()
    panel.cancel_button.click()  # one cancel, however many clicks
    states = await asyncio.wait_for(batch, 30)
    assert {s.status for s in states} == {S.CANCELLED}
    assert panel.cancel_button.disabled


async def test_hostile_inputs_and_errors_are_escaped(client: Client) -> None:
    task_id = await new_task(client, FLAKY_TASK)
    rows = [{"n": 0, "name": "<script>alert(1)</script>"}, {"n": 1, "name": "<img onerror=x>"}]
    batch = await run_many(task_id, rows, client=client)
    await asyncio.wait_for(batch, 30)
    html = render_batch(batch)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


async def test_without_a_kernel_the_end_is_printed(client: Client, capsys) -> None:  # type: ignore[no-untyped-def]
    task_id = await new_task(client, FLAKY_TASK)
    batch = await run_many(task_id, [{"n": 1}, {"n": 2}], client=client)
    assert show_batch(batch, mode="none") is None
    show_batch(batch)
    await asyncio.wait_for(batch, 30)
    assert "Batch of 2 (done" in capsys.readouterr().out
