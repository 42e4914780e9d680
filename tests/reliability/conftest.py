"""Fixtures of the reliability tests: the magics' real IPython shell, reused."""

from __future__ import annotations

from tests.magics.conftest import julep, shell  # noqa: F401 - fixtures used by name
