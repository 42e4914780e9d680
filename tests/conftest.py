"""Fixtures shared by every test package: a real local server on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from julep_nb.local.server import LocalServer


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A fresh in-memory local server on an ephemeral loopback port, stopped afterwards."""
    from julep_nb.local import start

    server = start(port=0, db=":memory:")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def julep_base_url(local_server: LocalServer) -> str:
    """The base URL of :func:`local_server` (no API key needed)."""
    return local_server.base_url
