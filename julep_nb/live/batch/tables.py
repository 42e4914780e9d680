"""Batches and executions as tables: plain records, and pandas DataFrames on request.

Pure functions of states. pandas is imported only by the ``*_dataframe`` functions,
with a message saying how to install it when it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from julep_nb.live.events import ExecutionStatus

if TYPE_CHECKING:
    from julep_nb.live.state import ExecutionState

__all__ = [
    "BATCH_COLUMNS",
    "TIMELINE_COLUMNS",
    "batch_records",
    "records_dataframe",
    "timeline_dataframe",
    "timeline_records",
]

# After the input columns (and the output's, when it is a dict), in this order.
BATCH_COLUMNS = ("status", "output", "error", "duration_s", "execution_id")
TIMELINE_COLUMNS = (
    "position", "id", "kind", "label", "status", "started_at", "ended_at", "duration_s",
    "output", "error", "attempt", "scope", "note",
)  # fmt: skip


def _output_columns(outputs: Sequence[Any], taken: set[str]) -> dict[str, str]:
    """Output key -> column name: the key itself, or ``output.<key>`` when it is taken."""
    names: dict[str, str] = {}
    for output in outputs:
        if isinstance(output, Mapping):
            for key in output:
                key = str(key)
                if key not in names:
                    names[key] = f"output.{key}" if key in taken else key
    return names


def batch_records(
    inputs: Sequence[Mapping[str, Any]],
    states: Sequence[ExecutionState],
    columns: Sequence[str],
) -> tuple[list[dict[str, Any]], list[str]]:
    """One record per input: its columns, status, output (a dict spread), error, duration, id.

    Only a succeeded execution has an output here (a failure's is its error).

    A dict output is spread into one column per key (``output.<key>`` where a key is
    also an input or a fixed column), and its ``output`` cell stays empty; any other
    output goes to ``output``. Returns ``(records, column order)``.
    """
    outputs = [
        state.output if state.status is ExecutionStatus.SUCCEEDED else None for state in states
    ]
    spread = _output_columns(outputs, {*columns, *BATCH_COLUMNS})
    records = []
    for row, state, output in zip(inputs, states, outputs, strict=True):
        record: dict[str, Any] = {column: row.get(column) for column in columns}
        record["status"] = state.status.value
        if isinstance(output, Mapping):
            record["output"] = None
            for key, value in output.items():
                record[spread[str(key)]] = value
        else:
            record["output"] = output
        record["error"] = state.error
        record["duration_s"] = state.elapsed() if state.is_terminal else None
        record["execution_id"] = state.execution_id or None
        records.append(record)
    order = [*columns, "status", *spread.values(), *BATCH_COLUMNS[1:]]
    if spread and all(r["output"] is None for r in records):
        order.remove("output")  # every output was a dict: its keys are the columns
    return records, order


def timeline_records(state: ExecutionState) -> list[dict[str, Any]]:
    """One record per timeline entry of ``state``, in timeline order."""
    records = []
    for position, row in enumerate(state.timeline()):
        entry = row.entry
        records.append(
            {
                "position": position,
                "id": entry.id,
                "kind": entry.kind,
                "label": row.label,
                "status": entry.status.value if entry.status is not None else None,
                "started_at": row.started_at,
                "ended_at": row.ended_at,
                "duration_s": row.duration,
                "output": entry.output,
                "error": entry.error,
                "attempt": entry.attempt,
                "scope": entry.scope,
                "note": entry.note,
            }
        )
    return records


def records_dataframe(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """A pandas DataFrame of ``records`` with exactly ``columns``, in that order."""
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "to_dataframe() needs pandas: pip install 'julep-nb[pandas]' (or pandas), "
            "or use the records without it"
        ) from None
    return pandas.DataFrame.from_records(list(records), columns=list(columns))


def timeline_dataframe(state: ExecutionState) -> Any:
    """``state``'s timeline as a DataFrame, one row per entry (``ExecutionState.to_dataframe``)."""
    return records_dataframe(timeline_records(state), TIMELINE_COLUMNS)
