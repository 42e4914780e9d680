"""source_from_url: Temporal and Thand sources by URL or configured name."""

from __future__ import annotations

import pytest

from julep_nb.sources.thand import ThandSource
from julep_nb.sources.urls import source_from_url


async def test_thand_url_builds_a_thand_source_without_showing_the_token() -> None:
    source = await source_from_url("thand+http://:s3cret@127.0.0.1:9000/api/v1")
    assert isinstance(source, ThandSource)
    assert source.base_url == "http://127.0.0.1:9000/api/v1"
    assert "s3cret" not in repr(source)


async def test_named_source_resolves_through_the_mapping() -> None:
    source = await source_from_url("ops", named={"ops": "thand+https://thand.example/api/v1"})
    assert isinstance(source, ThandSource) and source.base_url.startswith("https://")


async def test_unknown_scheme_says_what_to_use() -> None:
    with pytest.raises(ValueError, match="temporal://"):
        await source_from_url("ftp://nowhere", named={"prod": "temporal://x:1/ns"})
