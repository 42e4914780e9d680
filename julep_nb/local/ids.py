"""Ids of the local server's rows: random UUID4 strings, as Julep's.

They come from :mod:`random` (seeded from the OS, reseeded in a forked child), not
from ``os.urandom``: an id names a row and is not a credential (task tokens, which
are, use :mod:`secrets`), and a ``getrandom`` system call per id costs more than
the rest of writing a transition row.
"""

from __future__ import annotations

import random
import uuid

__all__ = ["new_id"]


def new_id() -> str:
    """A new random UUID (version 4) as its canonical string."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))
