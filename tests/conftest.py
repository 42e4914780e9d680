"""Fixtures shared by every test package: a real local server on a loopback port."""

from __future__ import annotations

import json
import sys
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


@pytest.fixture(autouse=True)
def _task_views_stay_as_read() -> Iterator[None]:
    """The engine shares one parsed task among its executions (``context.task_view``):
    after every test, each shared task must still be what its JSON text says."""
    yield
    context = sys.modules.get("julep_nb.local.context")
    if context is None:
        return
    for text, view in list(context._VIEWS.items()):
        spec = json.loads(text)
        assert view.spec == spec, f"a step modified the shared task {spec.get('name')!r}"
        assert view.task == {**spec, "workflows": view.task["workflows"]}
