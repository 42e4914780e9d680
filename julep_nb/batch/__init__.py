"""Run a Julep task over a whole dataset (see :func:`run_many`)."""

from __future__ import annotations

from julep_nb.batch.run import run_many
from julep_nb.live.batch.handle import BatchHandle

__all__ = ["BatchHandle", "run_many"]
