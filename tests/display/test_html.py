"""The pure renderers: what a user reads in the card, escaping, limits, truncation, cost."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest

from julep_nb.display import html as H
from julep_nb.display.gantt import MAX_BARS
from julep_nb.display.timeline import ROWS
from julep_nb.live.events import StatusReport, TimelineEntry
from julep_nb.live.state import ExecutionState, reduce, reduce_all
from julep_nb.sources.julep.models import (
    JULEP_STATUSES,
    Execution,
    ExecutionStatus,
    ExecutionStatusEvent,
    Task,
)

from .factories import T0, Structure, created, state_in, tr

S = ExecutionStatus
NOW = T0 + timedelta(seconds=90)

# (status, strings the card must show)
EXPECTED = [
    (S.QUEUED, ["No transitions yet.", "Elapsed 1m 30s"]),
    (S.STARTING, ["Step main[1]", "init", "otters"]),
    (S.RUNNING, ["Step main[2]", "fetch", "evaluate", "Step durations"]),
    (S.AWAITING_INPUT, ["Waiting for input", "Which otter?", "ask"]),
    (S.SUCCEEDED, ["Output", "object, 1 key", '"answer": 42', "Elapsed 3.00 s"]),
    (S.FAILED, ["Execution failed", "ZeroDivisionError: division by zero"]),
    (S.CANCELLED, ["Execution cancelled", "user pressed cancel"]),
]


@pytest.mark.parametrize(("status", "strings"), EXPECTED, ids=[s.value for s, _ in EXPECTED])
def test_card_per_status_shows_badge_ids_and_key_facts(status: S, strings: list[str]) -> None:
    html = H.render_execution(state_in(status), now=NOW)
    page = Structure(html)  # balanced tags
    text = page.visible
    assert f"Julep execution exec-1 {status.value}" in text
    assert "Task task-1" in text
    assert H.STATUS_COLORS[status] in html
    for expected in strings:
        assert expected in text, expected
    assert page.count("script") == 0 and page.count("style") == 0
    assert "var(--jp-ui-font-color1," in html  # theme variables with fallbacks


def test_only_a_waiting_card_and_only_a_finished_card_show_their_sections() -> None:
    for status in JULEP_STATUSES:
        text = Structure(H.render_execution(state_in(status), now=NOW)).visible
        assert ("Waiting for input" in text) is (status is S.AWAITING_INPUT)
        assert ("Execution failed" in text) is (status is S.FAILED)
        assert ("Output ·" in text) is (status is S.SUCCEEDED)
        assert ("Step main" in text) is (status in (S.STARTING, S.RUNNING, S.AWAITING_INPUT))


def test_failed_row_is_highlighted_and_error_shown_before_the_timeline() -> None:
    html = H.render_execution(state_in(S.FAILED), now=NOW)
    assert html.index("Execution failed") < html.index("<table")
    error_rows = [row for row in html.split("<tr") if "</span> error</td>" in row]
    assert error_rows and all("rgba(198,40,40" in row for row in error_rows)


EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def _assert_escaped(html: str) -> None:
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;" in html
    Structure(html)


def test_server_data_is_escaped_everywhere() -> None:
    execution = Execution(id=f"e{EVIL}", task_id=f"t{EVIL}", status="queued", created_at=T0)
    state = reduce(None, execution)
    events = [
        tr(0, "init", output={"k": EVIL}, execution_id=execution.id, step_type=EVIL),
        tr(1, "step", output=EVIL, label=EVIL, execution_id=execution.id),
        tr(2, "error", output={"error": EVIL}, label=f"x{EVIL}", execution_id=execution.id),
    ]
    state = reduce_all(state, events)
    _assert_escaped(H.render_execution(state, now=NOW))
    _assert_escaped(H.render_output({EVIL: EVIL}))
    _assert_escaped(H.render_waiting({"question": EVIL}))
    task = Task(id=EVIL, name=EVIL, agent_id=EVIL, description=EVIL, main=[{"evaluate": EVIL}])
    task = Task.model_validate({**task.model_dump(), "input_schema": {"title": EVIL}})
    _assert_escaped(H.render_task(task))
    _assert_escaped(H.render_executions([execution]))
    _assert_escaped(H.render_transitions(events))
    _assert_escaped(H.render_settings({EVIL: EVIL, "nested": {"a": EVIL}}))


def test_timeline_shows_the_newest_rows_and_counts_the_earlier_ones() -> None:
    events = [tr(0, "init")] + [tr(i, "step", label=f"step-{i}") for i in range(1, 120)]
    state = reduce_all(created(), events)
    page = Structure(H.render_timeline(state, limit=50))
    assert page.count("tr") == 1 + 1 + 50  # header, summary, rows
    assert "70 earlier transitions not shown" in page.visible
    assert "step-119" in page.visible and "step-70" in page.visible
    assert "step-69" not in page.visible
    assert re.search(r"\b71 ● step step-70", page.visible)  # rows keep their absolute number
    whole = Structure(H.render_timeline(state, limit=500)).visible
    assert "earlier" not in whole and "step-1 " in whole


def test_one_hidden_transition_is_singular() -> None:
    state = reduce_all(created(), [tr(0, "init"), tr(1, "step"), tr(2, "step")])
    assert "1 earlier transition not shown" in Structure(H.render_timeline(state, limit=2)).visible


def test_gantt_has_one_bar_per_step_and_stays_bounded() -> None:
    few = reduce_all(created(), [tr(0, "init"), tr(1, "step", label="a"), tr(3, "step", label="b")])
    svg = H.render_gantt(few)
    assert Structure(svg).count("rect") == 3 and "Step durations · total 3.00 s" in svg

    events = [tr(0, "init")] + [tr(i, "step", label=f"label-{i}") for i in range(1, 2000)]
    many = reduce_all(created(), events)
    svg = H.render_gantt(many)
    page = Structure(svg)
    assert page.count("rect") == MAX_BARS
    assert "+1,981 other steps" in page.visible
    height = int(re.search(r'viewBox="0 0 \d+ (\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert height <= MAX_BARS * 20 + 4
    assert len(svg) < 12_000


def test_gantt_is_empty_without_time_spent() -> None:
    assert H.render_gantt(created()) == ""
    assert H.render_gantt(reduce(created(), tr(0, "init"))) == ""


def test_a_ten_megabyte_output_is_truncated_quickly_with_a_note() -> None:
    for huge in ("x" * 10_000_000, {"rows": [{"i": i, "v": "y" * 50} for i in range(200_000)]}):
        started = time.perf_counter()
        html = H.render_output(huge, max_chars=20_000)
        assert time.perf_counter() - started < 0.5
        assert len(html) < 25_000
        text = Structure(html).visible
        assert "Output truncated to 20,000 characters; the full value is in handle.output" in text
        assert "<details style" in html  # not opened when truncated
    state = reduce_all(created(), [tr(0, "init"), tr(1, "finish", output="z" * 10_000_000)])
    card = H.render_execution(state, max_output_chars=1_000)
    assert len(card) < 20_000 and "full value is in" in card


def test_a_small_output_starts_expanded() -> None:
    assert H.render_output({"answer": 42}).startswith("<details open")


def test_text_summary_per_status() -> None:
    assert "queued · 0 transitions" in H.render_text(state_in(S.QUEUED))
    running = H.render_text(state_in(S.RUNNING))
    assert "running · 2 transitions" in running and "step main[2]" in running
    assert "error: ZeroDivisionError" in H.render_text(state_in(S.FAILED))
    assert 'waiting for input: {"question":"Which otter?"}' in H.render_text(
        state_in(S.AWAITING_INPUT)
    )
    assert 'output: {"answer":42}' in H.render_text(state_in(S.SUCCEEDED))
    assert "<" not in H.render_text(state_in(S.SUCCEEDED))


def test_task_executions_transitions_and_settings_tables() -> None:
    task = Task.model_validate(
        {
            "id": "task-9",
            "name": "otters",
            "agent_id": "agent-1",
            "main": [{"evaluate": {"x": "$ 1"}}, {"wait_for_input": {}}],
            "summarize": [{"kind_": "prompt", "prompt": "hi"}],
            "input_schema": {"type": "object"},
        }
    )
    text = Structure(H.render_task(task)).visible
    assert "Julep task otters task-9" in text and "Agent agent-1" in text
    assert "main : 2 steps (evaluate, wait_for_input)" in text
    assert "summarize : 1 step (prompt)" in text and "Input schema" in text

    executions = [
        Execution(id=f"e{i}", task_id="task-9", status=s, created_at=T0, updated_at=T0)
        for i, s in enumerate(("running", "failed"))
    ]
    page = Structure(H.render_executions(executions))
    assert page.count("tr") == 3
    assert "e0 running 2025-04-16 10:00:00" in page.visible and "e1 failed" in page.visible
    assert "No executions." in H.render_executions([])

    page = Structure(H.render_transitions([tr(0, "init"), tr(1, "finish", output=7)]))
    assert page.count("tr") == 3 and "finish main[1]" in page.visible

    page = Structure(H.render_settings({"base_url": "http://x", "api_key": "…abcd"}))
    assert "base_url http://x" in page.visible and "api_key …abcd" in page.visible


def test_rendering_a_long_execution_is_cheap() -> None:
    state = created()
    for i in range(20_000):  # a loop over 12 steps, each transition with an output
        kind = "init" if i == 0 else "step"
        state = reduce(state, tr(i, kind, at=i / 10, output={"i": i}, label=f"s{i % 12}"))
    started = time.perf_counter()
    for i in range(200):  # a new transition before each render, as in a live panel
        event = tr(20_000 + i, "step", at=2_000 + i / 10, output={"i": i}, label=f"s{i % 12}")
        state = reduce(state, event)
        H.render_execution(state, timeline_limit=50)
    per_render = (time.perf_counter() - started) / 200
    # Measured 0.3-0.5 ms per render (2,000+ renders/s on one core); one scan of the
    # 20,000 transitions per render alone would cost more than the bound.
    assert per_render < 0.005


def test_a_status_ahead_of_its_transitions_says_they_are_not_loaded_yet() -> None:
    event = ExecutionStatusEvent(
        execution_id="exec-1", status="awaiting_input", transition_count=3, updated_at=T0
    )
    state = reduce(created(), event)
    text = Structure(H.render_execution(state, now=NOW)).visible
    assert "awaiting_input" in text and "Transitions 3" in text
    assert "3 transitions, not loaded yet." in text


def test_the_row_cache_lets_go_of_transitions_that_are_gone() -> None:
    """A 100,000-transition run must not leave 100,000 rendered rows behind."""
    import gc

    def follow_a_run() -> str:
        state, html = created(), ""
        for i in range(1, 2_001):  # a panel re-rendering as the transitions come
            state = reduce(state, tr(i, "step", output={"i": i}))
            if i % 25 == 0:
                html = H.render_timeline(state, limit=50)
        return html

    gc.collect()
    before = len(ROWS)
    html = follow_a_run()
    assert "1,950 earlier transitions not shown" in Structure(html).visible
    gc.collect()
    # none are left: the run's states, and with them its transitions, are gone
    assert len(ROWS) <= before


# --------------------------------------------------------------------------- other sources


def _workflow(status: S, **report: object) -> ExecutionState:
    """A non-Julep workflow that ended with ``status``: one activity, then the report."""
    activity = TimelineEntry(
        id="a1",
        kind="activity",
        label="charge",
        at=T0 + timedelta(seconds=5),
        started_at=T0 + timedelta(seconds=1),
        ended_at=T0 + timedelta(seconds=5),
        status=S.FAILED if status is S.TIMED_OUT else S.SUCCEEDED,
        attempt=3,
    )
    start = StatusReport("wf-9", S.RUNNING, at=T0, source="Temporal", name="Billing", created_at=T0)
    end = StatusReport("wf-9", status, at=T0 + timedelta(seconds=6), **report)  # type: ignore[arg-type]
    return reduce_all(None, [start, activity, end])


# (status, report fields, what the card shows, the text summary's second line)
ENDINGS = [
    (S.TERMINATED, {"error": "stuck <b>"}, ["Execution terminated", "Reason: stuck <b>"],
     "reason: stuck <b>"),
    (S.TERMINATED, {}, ["Execution terminated"], None),
    (S.TIMED_OUT, {"error": "deadline 5s"}, ["Execution timed out", "deadline 5s"],
     "error: deadline 5s"),
    (S.TIMED_OUT, {}, ["The execution timed out without an error message."], None),
    (S.CONTINUED_AS_NEW, {"next_run": "run-2"}, ["Continued as new", "new run: run-2"],
     "next run: run-2"),
    (S.CONTINUED_AS_NEW, {}, ["It goes on as a new run."], None),
]  # fmt: skip


@pytest.mark.parametrize(("status", "report", "strings", "line"), ENDINGS)
def test_the_statuses_other_sources_end_in_have_their_own_card_and_text(
    status: S, report: dict[str, object], strings: list[str], line: str | None
) -> None:
    state = _workflow(status, **report)
    html = H.render_execution(state, now=NOW)
    text = Structure(html).visible
    assert f"Temporal workflow wf-9 {status.value}" in text and "Type Billing" in text
    assert H.STATUS_COLORS[status] in html  # the badge and the box in the status' colour
    assert "charge attempt 3" in text and "Elapsed 6.00 s" in text
    for expected in strings:
        assert expected in text, expected
    assert "stuck <b>" not in html  # escaped
    summary = H.render_text(state).splitlines()
    assert (
        summary[0]
        == f"Temporal workflow wf-9 · type Billing · {status.value} · 1 event · elapsed 6.00 s"
    )
    assert summary[1:] == ([f"  {line}"] if line else [])


def test_a_running_entry_is_shown_in_progress_after_the_finished_ones() -> None:
    done = TimelineEntry(id="a1", kind="activity", label="fetch", at=T0 + timedelta(seconds=2))
    going = TimelineEntry(
        id="a2", kind="activity", label="charge", at=T0 + timedelta(seconds=2), attempt=2
    )
    report = StatusReport("wf-9", S.RUNNING, at=T0, source="Temporal", running=(going,))
    state = reduce_all(None, [report, done])
    rows = Structure(H.render_timeline(state)).visible
    assert rows.index("fetch") < rows.index("charge attempt 2 running")
    assert "Step charge" in Structure(H.render_header(state, now=NOW)).visible


def test_a_final_entry_is_never_shown_running() -> None:
    stop = TimelineEntry(
        id="x", kind="terminated", label="stop", at=T0, execution_status=S.TERMINATED
    )
    state = reduce_all(None, [StatusReport("wf-9", S.RUNNING, at=T0), stop])
    assert "running" not in Structure(H.render_timeline(state)).visible
