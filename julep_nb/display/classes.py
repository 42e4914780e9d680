"""Inline styles turned into shared classes, for HTML that a live widget sends again and again.

The renderers write inline styles (:mod:`julep_nb.display._style` says why), and
about three quarters of a live panel's HTML is ``style="…"`` attributes repeated on
every cell of every row. A live panel sends its HTML again with every update, so
:func:`to_classes` replaces each attribute with a class named after its content
(``jnb`` and a hash: the same style gets the same name in every kernel, so panels
of different kernels on one page agree on what a name means), and
:func:`stylesheet` writes the rules, each declaration ``!important`` so that a rule
wins over the frontend's own table styles as the inline style did. The stylesheet
goes to the browser once per panel, in a widget of its own that changes only when a
style appears for the first time (see :class:`~julep_nb.display.panel.view.PanelView`);
replacing a ``<style>`` element with every update would make the browser restyle
the whole page each time.

Pure: strings in, strings out. Static output (a saved notebook, nbviewer) keeps its
inline styles.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["RowMemo", "class_name", "stylesheet", "to_classes"]

PREFIX = "jnb"
_STYLE = ' style="'
_CLASS = ' class="'
_UNSAFE = frozenset('<>{}&\\"')  # a style with one of these stays inline, as written


@lru_cache(maxsize=1024)
def class_name(style: str) -> str:
    """The class that stands for ``style``: the same in every process."""
    digest = hashlib.blake2b(style.encode(), digest_size=5).digest()
    return PREFIX + base64.b32encode(digest).decode()[:7].lower()  # 35 bits


@lru_cache(maxsize=1024)
def _movable(style: str) -> bool:
    return not _UNSAFE.intersection(style)


def to_classes(html: str) -> tuple[str, frozenset[str]]:
    """``html`` with its ``style`` attributes as classes; and the styles they stand for."""
    pieces = html.split(_STYLE)
    out = [pieces[0]]
    used: set[str] = set()
    for piece in pieces[1:]:
        end = piece.find('"')
        style = piece[:end]
        if end < 0 or not _movable(style):
            out.append(_STYLE + piece)
            continue
        before = out[-1]
        tag, start = before.rfind("<"), before.rfind(_CLASS)
        if start > tag and not (before.endswith('"') and '"' not in before[start + 8 : -1]):
            out.append(_STYLE + piece)  # a class attribute, but not just before: stay inline
            continue
        used.add(style)
        if start > tag:  # class="…" style="…": one class attribute
            out[-1] = f"{before[:-1]} {class_name(style)}{piece[end:]}"
        else:
            out.append(f"{_CLASS}{class_name(style)}{piece[end:]}")
    return "".join(out), frozenset(used)


class RowMemo:
    """:func:`to_classes` for HTML that changes a few rows at a time: a live timeline.

    The HTML is cut before each ``<tr``; a piece seen in the previous call is not
    converted again. Only the previous call's pieces are kept, so memory follows
    what is shown.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, frozenset[str]]] = {}

    def __call__(self, html: str) -> tuple[str, frozenset[str]]:
        pieces = html.split("<tr")
        last = self._last
        kept: dict[str, tuple[str, frozenset[str]]] = {}
        out: list[str] = []
        used: set[str] = set()
        for i, piece in enumerate(pieces):
            piece = "<tr" + piece if i else piece
            done = last.get(piece) or kept.get(piece) or to_classes(piece)
            kept[piece] = done
            out.append(done[0])
            used |= done[1]
        self._last = kept
        return "".join(out), frozenset(used)


def stylesheet(styles: Iterable[str]) -> str:
    """A ``<style>`` element with one rule per style (sorted: the same set, the same text)."""
    rules = "".join(f".{class_name(s)}{{{_important(s)}}}" for s in sorted(set(styles)))
    return f"<style>{rules}</style>" if rules else ""


@lru_cache(maxsize=1024)
def _important(style: str) -> str:
    declarations = (d.strip() for d in style.split(";"))
    return ";".join(f"{d} !important" for d in declarations if d)
