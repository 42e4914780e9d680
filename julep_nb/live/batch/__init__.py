"""Many executions of one task as one live object.

- :mod:`.handle`: :class:`~julep_nb.live.batch.handle.BatchHandle`;
- :mod:`.follow`: how a batch hears about its executions;
- :mod:`.inputs`: lists of dicts and DataFrames as inputs;
- :mod:`.tables`: batches and timelines as records and DataFrames.

This package imports nothing itself, so ``live/state.py`` can use :mod:`.tables`
(``ExecutionState.to_dataframe``) without an import cycle.
"""
