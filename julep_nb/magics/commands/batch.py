"""``%%julep_exec TASK --over VAR``: one execution per row of a notebook variable.

VAR is a list of dicts or a pandas DataFrame. The cell body, if any, holds fields
merged into every input; on a name both have, the body wins (every input is
``{**row, **body}``). Everything is checked before the first request: the variable,
its rows, the body, the options; then the task is looked up once, and
:func:`~julep_nb.batch.run_many` starts the batch, shown in one batch panel.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, Final

from julep_nb.batch import BatchHandle, run_many
from julep_nb.display.batch_panel import BatchPanel, show_batch
from julep_nb.live.batch.inputs import is_dataframe, normalize_inputs
from julep_nb.magics import parsing
from julep_nb.magics.errors import task_hint, unknown
from julep_nb.magics.session import Session
from julep_nb.sources.julep.errors import InputError

__all__ = ["DEFAULT_CONCURRENCY", "batch_inputs", "run_batch"]

DEFAULT_CONCURRENCY: Final = 16


def run_batch(session: Session, args: argparse.Namespace, body: str | None) -> BatchHandle:
    """Start the batch over ``--over VAR``, show its panel, store ``-o``, wait with ``--wait``."""
    _check_options(args)
    fields = parsing.parse_body(body, what="cell body (fields merged into every input)")
    inputs = batch_inputs(session.namespace, args.over, fields)
    metadata = None
    if args.metadata is not None:
        metadata = parsing.parse_mapping_option(args.metadata, option="--metadata")
    client = session.client()
    task_id = session.task_names.get(args.task_id, args.task_id)
    with unknown("task", args.task_id, sent=task_id, hint=task_hint(session.task_names)):
        session.run(client.get_task(task_id))
    concurrency = args.concurrency or DEFAULT_CONCURRENCY
    batch: BatchHandle = session.run(
        run_many(task_id, inputs, client=client, concurrency=concurrency, metadata=metadata)
    )
    session.cell.started.append(batch)  # running the cell again stops it starting more
    mode = args.panel or session.view.panel
    panel = show_batch(batch, mode=mode, refresh_rate=session.view.refresh_rate)
    if isinstance(panel, BatchPanel):
        session.cell.shown.append(batch)  # the panel is the cell's result: no repr below it
    session.store(args.out, batch)
    if args.wait:
        session.run(_final(batch))
    return batch


def batch_inputs(namespace: Mapping[str, Any] | None, name: str, fields: Mapping[str, Any]) -> Any:
    """The inputs of ``--over NAME``: the variable as is, or its rows with ``fields`` merged."""
    if namespace is None or name not in namespace:
        raise InputError(
            f"--over {name}: there is no variable {name!r} in the notebook: define it (a "
            "list of dicts, or a DataFrame) in a cell above. Nothing was sent."
        )
    value = namespace[name]
    try:
        rows, _columns = normalize_inputs(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"--over {name}: {exc}. Nothing was sent.") from None
    if not rows:
        raise InputError(f"--over {name}: {name} has no rows, so there is nothing to run.")
    if not fields:
        return value if is_dataframe(value) else rows
    return [{**row, **fields} for row in rows]


def _check_options(args: argparse.Namespace) -> None:
    for option, given in (("--input", args.input), ("--input-var", args.input_var)):
        if given is not None:
            raise InputError(
                f"{option} and --over cannot go together: with --over, each row of "
                f"{args.over} is an input (put shared fields in the cell body)."
            )


async def _final(batch: BatchHandle) -> None:
    await batch
