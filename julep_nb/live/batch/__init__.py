"""Many executions of one task as one live object (see :mod:`.handle`)."""

from __future__ import annotations

from julep_nb.live.batch.follow import Follower, WatchingFollower, cancel_unless_ended
from julep_nb.live.batch.handle import BatchHandle, Starter
from julep_nb.live.batch.inputs import is_dataframe, normalize_inputs
from julep_nb.live.batch.tables import timeline_dataframe, timeline_records

__all__ = [
    "BatchHandle",
    "Follower",
    "Starter",
    "WatchingFollower",
    "cancel_unless_ended",
    "is_dataframe",
    "normalize_inputs",
    "timeline_dataframe",
    "timeline_records",
]
