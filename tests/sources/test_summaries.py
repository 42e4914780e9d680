"""Execution summaries: a table with escaped values and status badges."""

from __future__ import annotations

from julep_nb.live.events import ExecutionStatus
from julep_nb.sources.summaries import ExecutionSummaries, ExecutionSummary


def test_html_escapes_server_values_and_shows_badges() -> None:
    rows = ExecutionSummaries(
        [
            ExecutionSummary(id="<script>x</script>", status=ExecutionStatus.TERMINATED,
                             name="A&B"),
            ExecutionSummary(id="ok", status=ExecutionStatus.SUCCEEDED),
        ],
        source="Temporal",
    )  # fmt: skip
    html = rows._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "A&amp;B" in html
    assert html.count("julep-nb-badge") == 2 and "terminated" in html
    assert "2 Temporal executions" in html
    assert len(rows) == 2 and rows[1].id == "ok" and len(rows[:1]) == 1
    assert "terminated" in repr(rows).splitlines()[1]


def test_empty_listing_says_so() -> None:
    assert repr(ExecutionSummaries([], source="Thand")) == "<no Thand executions>"
