"""Ids of the local server's rows: random UUID4 strings, as Julep's.

They come from :mod:`random` (seeded from the OS, reseeded in a forked child), not
from ``os.urandom``: an id names a row and is not a credential (task tokens, which
are, use :mod:`secrets`), and a ``getrandom`` system call per id costs more than
the rest of writing a transition row.
"""

from __future__ import annotations

import random
from typing import Final

__all__ = ["new_id"]


_VERSION_4: Final = 0x4000 << 64 | 0x8000 << 48  # version 4, RFC 4122 variant
_CLEAR: Final = ~(0xF000 << 64 | 0xC000 << 48)


def new_id() -> str:
    """A new random UUID (version 4) as its canonical string."""
    h = "%032x" % (random.getrandbits(128) & _CLEAR | _VERSION_4)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
