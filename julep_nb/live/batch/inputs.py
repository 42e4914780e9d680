"""The inputs of a batch: a list of dicts, any iterable of dicts, or a pandas DataFrame.

pandas is never imported here: a DataFrame is recognised by its type's module and
read through its own ``to_dict``, so ``import julep_nb`` and batches of plain dicts
work without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Inputs", "columns_of", "is_dataframe", "normalize_inputs"]

Inputs = list[dict[str, Any]]


def is_dataframe(value: object) -> bool:
    """``value`` is a pandas DataFrame (checked without importing pandas)."""
    kind = type(value)
    return kind.__name__ == "DataFrame" and kind.__module__.split(".", 1)[0] == "pandas"


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of ``rows``, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(str(key), None)
    return list(seen)


def normalize_inputs(
    inputs: Any, *, common: Mapping[str, Any] | None = None
) -> tuple[Inputs, list[str]]:
    """``(rows, columns)``: one dict per execution, and the input columns in order.

    A DataFrame gives one row per execution, its columns in order (its index is
    dropped: keep it as a column with ``df.reset_index()``). Anything else must be an
    iterable of mappings with string keys. ``common`` fields are added to every row
    (a row's own value wins) and become columns too.
    """
    rows, columns = _rows(inputs)
    if common:
        extra = {str(k): v for k, v in common.items()}
        rows = [{**extra, **row} for row in rows]
        columns += [key for key in extra if key not in columns]
    return rows, columns


def _rows(inputs: Any) -> tuple[Inputs, list[str]]:
    if is_dataframe(inputs):
        columns = [str(c) for c in inputs.columns]
        if len(set(columns)) != len(columns):
            raise ValueError(
                f"the DataFrame has repeated column names ({columns}): rename them so each "
                "input field has one value"
            )
        rows = [_scalars(row) for row in inputs.to_dict(orient="records")]
        return rows, columns
    if isinstance(inputs, (str, bytes)) or isinstance(inputs, Mapping):
        raise TypeError(
            f"inputs must be a list of dicts (one per execution) or a DataFrame, not a single "
            f"{type(inputs).__name__}: wrap one input in a list, e.g. [{{'x': 1}}]"
        )
    try:
        items = list(inputs)
    except TypeError:
        raise TypeError(
            f"inputs must be a list of dicts or a DataFrame, not {type(inputs).__name__}"
        ) from None
    rows = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise TypeError(
                f"input {index} is a {type(item).__name__} ({item!r:.80}), not a dict: each "
                "input is the execution's input object, e.g. {'x': 1}"
            )
        rows.append({str(k): v for k, v in item.items()})
    return rows, columns_of(rows)


def _scalars(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A DataFrame row as JSON-ready values (numpy scalars as Python ones, NaN as None)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        item = getattr(value, "item", None)
        if callable(item) and type(value).__module__ == "numpy":
            value = item()
        if isinstance(value, float) and value != value:  # NaN: a missing cell
            value = None
        elif hasattr(value, "isoformat") and type(value).__module__.startswith("pandas"):
            value = value.isoformat()  # a Timestamp
        out[str(key)] = value
    return out
