"""Inputs and tables as plain data: DataFrames in, records out, timelines."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from julep_nb.live.batch.inputs import is_dataframe, normalize_inputs
from julep_nb.live.batch.tables import batch_records, timeline_records
from julep_nb.live.events import ExecutionStatus, StatusReport, TimelineEntry
from julep_nb.live.state import ExecutionState, reduce_all

S = ExecutionStatus
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_a_dataframe_becomes_json_ready_rows() -> None:
    frame = pd.DataFrame(
        {"n": np.array([1, 2], dtype=np.int64), "x": [1.5, np.nan], "when": pd.to_datetime(
            ["2026-01-01", "2026-01-02"])}
    )  # fmt: skip
    assert is_dataframe(frame) and not is_dataframe([{"n": 1}])
    rows, columns = normalize_inputs(frame)
    assert columns == ["n", "x", "when"]
    assert rows[0]["n"] == 1 and type(rows[0]["n"]) is int
    assert rows[1]["x"] is None  # a missing cell
    assert rows[0]["when"].startswith("2026-01-01")


def test_iterables_of_dicts_keep_first_seen_columns() -> None:
    rows, columns = normalize_inputs(iter([{"a": 1}, {"b": 2, "a": 3}]))
    assert rows == [{"a": 1}, {"b": 2, "a": 3}] and columns == ["a", "b"]
    with pytest.raises(TypeError, match="input 0 is a str"):
        normalize_inputs(["x"])


def test_common_fields_reach_every_row_and_rows_win() -> None:
    rows, columns = normalize_inputs(
        pd.DataFrame({"n": [1, 2], "k": [0, 5]}), common={"k": 9, "lang": "en"}
    )
    assert rows == [{"k": 0, "lang": "en", "n": 1}, {"k": 5, "lang": "en", "n": 2}]
    assert columns == ["n", "k", "lang"]


def _state(status: S, output: object = None, error: str | None = None) -> ExecutionState:
    report = StatusReport(
        execution_id="e1", status=status, at=T0 + timedelta(seconds=2), output=output,
        has_output=output is not None, error=error, created_at=T0,
    )  # fmt: skip
    return reduce_all(ExecutionState(execution_id="e1"), [report])


def test_dict_outputs_are_spread_and_clashes_prefixed() -> None:
    inputs = [{"n": 1}, {"n": 2}]
    states = [_state(S.SUCCEEDED, {"n": 10, "sq": 1}), _state(S.FAILED, error="boom")]
    records, columns = batch_records(inputs, states, ["n"])
    assert columns == ["n", "status", "output.n", "sq", "error", "duration_s", "execution_id"]
    assert records[0] == {
        "n": 1, "status": "succeeded", "output": None, "output.n": 10, "sq": 1, "error": None,
        "duration_s": 2.0, "execution_id": "e1",
    }  # fmt: skip
    assert records[1]["error"] == "boom" and "sq" not in records[1]


def test_plain_outputs_stay_in_one_column() -> None:
    records, columns = batch_records([{"n": 1}], [_state(S.SUCCEEDED, "text")], ["n"])
    assert columns == ["n", "status", "output", "error", "duration_s", "execution_id"]
    assert records[0]["output"] == "text"


def test_timeline_records_one_per_entry() -> None:
    entries = [
        TimelineEntry(id=f"t{i}", kind=kind, label=f"main[{i}]", at=T0 + timedelta(seconds=i),
                      status=S.SUCCEEDED, execution_status=status, output={"i": i})
        for i, (kind, status) in enumerate([("init", S.STARTING), ("finish", S.SUCCEEDED)])
    ]  # fmt: skip
    state = reduce_all(ExecutionState(execution_id="e1"), entries)
    records = timeline_records(state)
    assert [r["kind"] for r in records] == ["init", "finish"]
    assert [r["position"] for r in records] == [0, 1]
    assert records[1]["output"] == {"i": 1} and records[1]["duration_s"] >= 0
