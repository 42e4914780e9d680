"""The errors of the live layer: what any execution service can do wrong.

Each source maps its own failures into this tree (the Julep client's errors are
subclasses of these, so ``except SourceError`` catches a Julep 404 as well as a
Temporal ``RPCError``)::

    SourceError                 an execution service failed, refused, or is out of reach
    ├── SourceUnreachable       not reachable or overloaded right now: worth retrying
    ├── SourceUnauthorized      the credentials were refused
    ├── SourceNotFound          no such execution (or not visible with these credentials)
    ├── StreamBroken            a live stream failed or ended early: resume from its cursor
    │   └── StreamUnavailable   no usable live stream here: poll instead
    ├── ActionUnsupported       the source has no such action (see its capabilities)
    └── ActionRefused           the action does not fit the execution's state now

The watcher decides with these classes only: it never reads an HTTP status.
"""

from __future__ import annotations

__all__ = [
    "ActionRefused",
    "ActionUnsupported",
    "SourceError",
    "SourceNotFound",
    "SourceUnauthorized",
    "SourceUnreachable",
    "StreamBroken",
    "StreamUnavailable",
]


class SourceError(Exception):
    """An execution service failed, refused a request, or could not be reached."""


class SourceUnreachable(SourceError):
    """The service could not be reached, timed out, or is overloaded: retry later."""


class SourceUnauthorized(SourceError):
    """The service refused the credentials (missing, wrong, or not allowed here)."""


class SourceNotFound(SourceError):
    """The execution (or what it refers to) does not exist for these credentials."""


class StreamBroken(SourceError):
    """A live event stream failed or ended early; reopen it from its cursor."""


class StreamUnavailable(StreamBroken):
    """The service has no usable live stream for this execution: poll instead."""


class ActionUnsupported(SourceError, NotImplementedError):
    """The source has no such action (a capability it does not declare)."""


class ActionRefused(SourceError):
    """The action does not fit the execution's state (e.g. resuming one that runs)."""
