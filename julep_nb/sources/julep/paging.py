"""Walking offset-paginated list endpoints (``?limit=&offset=`` → ``{"items": [...]}``).

A page shorter than the limit is the last one, so walking N items takes
``N // 100 + 1`` requests, never an extra request for an empty page (the
official SDK asks for one more page after the last).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final, TypeVar

from julep_nb.sources.julep.errors import InputError

__all__ = ["MAX_PAGE_SIZE", "PageFetcher", "check_limit", "iter_pages", "paginate"]

MAX_PAGE_SIZE: Final = 100  # the Julep server refuses limit > 100

T = TypeVar("T")

PageFetcher = Callable[[int, int], Awaitable[Sequence[T]]]
"""``fetch(limit, offset)`` → one page of items."""


def check_limit(limit: int | None) -> int | None:
    """``limit`` if it is ``None`` or a positive int, else :class:`InputError`."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"limit must be a positive integer or None (all), got {limit!r}.")
    return limit


async def iter_pages(
    fetch: PageFetcher[T], *, limit: int | None = None, page_size: int = MAX_PAGE_SIZE
) -> AsyncIterator[Sequence[T]]:
    """Pages from ``fetch`` until a short page, or until ``limit`` items in total."""
    check_limit(limit)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InputError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}.")
    offset = 0
    while limit is None or offset < limit:
        size = page_size if limit is None else min(page_size, limit - offset)
        page = await fetch(size, offset)
        if page:
            yield page[:size]
        if len(page) < size:
            return
        offset += size


async def paginate(
    fetch: PageFetcher[T], *, limit: int | None = None, page_size: int = MAX_PAGE_SIZE
) -> AsyncIterator[T]:
    """Every item of every page, as :func:`iter_pages` walks them."""
    async for page in iter_pages(fetch, limit=limit, page_size=page_size):
        for item in page:
            yield item
