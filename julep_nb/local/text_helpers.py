"""The text helpers of Julep's evaluator: ``csv``, ``chunk_doc``, markdown ↔ HTML, ``nlp``.

Julep's versions and how these differ (see docs/local-server.md):

- ``csv.reader``/``csv.DictReader`` take the CSV *text* and return the rows as a
  list (Julep returns the iterator; ``list(…)`` of either is the same).
  ``csv.writer``/``csv.DictWriter`` return a writer whose ``writerow``/``writerows``
  return the CSV text written so far (Julep's write into a buffer nobody can read).
  ``register_dialect``, ``unregister_dialect`` and ``field_size_limit`` would change
  the whole server's state, so they are refused;
- ``chunk_doc(text)`` splits sentences with punctuation rules (Julep uses spaCy's
  sentencizer) and groups them as Julep does: 15 sentences a chunk, 3 shared;
- ``markdown_to_html`` uses mistune when installed; ``html_to_markdown`` is a small
  converter of common tags (Julep uses markdown2 and markdownify); both take at
  most ``MAX_MARKUP_LENGTH`` characters;
- ``nlp`` and ``humanize_text_alpha`` need spaCy models or an LLM: they raise.
"""

from __future__ import annotations

import csv
import html
import io
import re
import types
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any, Final

from julep_nb.local.sandbox import MAX_STRING_LENGTH, LimitExceeded, current_budget

__all__ = [
    "CSV",
    "MAX_MARKUP_LENGTH",
    "TEXT_FUNCTIONS",
    "chunk_doc",
    "html_to_markdown",
    "markdown_to_html",
]

MAX_MARKUP_LENGTH: Final = 50_000
"""Longest input of the markup converters: their parsers cannot be stopped midway, and
pathological input of this size still converts in well under a second."""
CHUNK_SENTENCES: Final = 15
CHUNK_OVERLAP: Final = 3
_SENTENCE_END: Final = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|\n\s*\n")


def _text(value: Any, what: str, limit: int = MAX_STRING_LENGTH) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} takes text, got {type(value).__name__}")
    if len(value) > limit:
        raise LimitExceeded(f"{what} input of {len(value):,} characters is over {limit:,}")
    return value


def _converted(text: str, what: str) -> str:
    """Check the deadline and the size after a conversion that cannot check them inside."""
    current_budget().check_time()
    if len(text) > MAX_STRING_LENGTH:
        raise LimitExceeded(f"{what} built more than {MAX_STRING_LENGTH:,} characters")
    return text


def chunk_doc(text: str) -> list[str]:
    """The text as chunks of up to 15 sentences, consecutive chunks sharing 3."""
    sentences = [s.strip() for s in _SENTENCE_END.split(_text(text, "chunk_doc")) if s.strip()]
    chunks: list[str] = []
    step = CHUNK_SENTENCES - CHUNK_OVERLAP
    for start in range(0, len(sentences), step):
        chunks.append(" ".join(sentences[start : start + CHUNK_SENTENCES]))
        if start + CHUNK_SENTENCES >= len(sentences):
            break
    return chunks


def markdown_to_html(markdown_text: str) -> str:
    """Markdown rendered as HTML (needs the ``mistune`` package)."""
    text = _text(markdown_text, "markdown_to_html", MAX_MARKUP_LENGTH)
    try:
        import mistune
    except ImportError:
        raise LimitExceeded(
            "markdown_to_html needs the mistune package: pip install mistune"
        ) from None
    return _converted(str(mistune.html(text)), "markdown_to_html")


class _Markdown(HTMLParser):
    _INLINE: Final = {"strong": "**", "b": "**", "em": "*", "i": "*", "code": "`"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.links: list[str] = []
        self.lists: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in ("p", "div", "pre", "blockquote"):
            self.out.append("\n\n" + ("> " if tag == "blockquote" else ""))
        elif tag == "br":
            self.out.append("  \n")
        elif tag in ("ul", "ol"):
            self.lists.append(tag)
        elif tag == "li":
            marker = "1. " if self.lists and self.lists[-1] == "ol" else "* "
            self.out.append("\n" + "  " * max(len(self.lists) - 1, 0) + marker)
        elif tag == "a":
            self.links.append(dict(attrs).get("href") or "")
            self.out.append("[")
        elif tag in self._INLINE:
            self.out.append(self._INLINE[tag])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self.out.append("\n")
        elif tag == "a" and self.links:
            self.out.append(f"]({self.links.pop()})")
        elif tag in self._INLINE:
            self.out.append(self._INLINE[tag])

    def handle_data(self, data: str) -> None:
        self.out.append(re.sub(r"\s+", " ", data) if not data.isspace() else " ")


def html_to_markdown(html_text: str) -> str:
    """HTML as Markdown: headings, paragraphs, emphasis, code, links and lists."""
    parser = _Markdown()
    parser.feed(_text(html_text, "html_to_markdown", MAX_MARKUP_LENGTH))
    parser.close()
    text = "".join(parser.out)
    return _converted(html.unescape(re.sub(r"\n{3,}", "\n\n", text)).strip(), "html_to_markdown")


def _unavailable(name: str, needs: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise LimitExceeded(f"{name}() needs {needs}, which the local server does not have")

    call.__name__ = name
    return call


# ------------------------------------------------------------------------------ csv


def _reader(data: str, dialect: Any = "excel", **fmtparams: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_text(data, "csv.reader")), dialect, **fmtparams))


def _dict_reader(
    data: str, fieldnames: Any = None, restkey: Any = None, restval: Any = None, **kwargs: Any
) -> list[dict[str, Any]]:
    rows = csv.DictReader(
        io.StringIO(_text(data, "csv.DictReader")), fieldnames, restkey, restval, **kwargs
    )
    return [dict(row) for row in rows]


class _TextWriter:
    """A csv writer whose writes return the CSV text written so far."""

    def __init__(self, make: Any, data: str, *args: Any, **kwargs: Any) -> None:
        self._buffer = io.StringIO()
        self._buffer.write(_text(data, "csv writer") if data else "")
        self._writer = make(self._buffer, *args, **kwargs)

    def _value(self) -> str:
        value = self._buffer.getvalue()
        if len(value) > MAX_STRING_LENGTH:
            raise LimitExceeded(f"csv text longer than {MAX_STRING_LENGTH:,} characters")
        return value

    def writerow(self, row: Any) -> str:
        self._writer.writerow(row)
        return self._value()

    def writerows(self, rows: Iterable[Any]) -> str:
        for row in rows:
            self._writer.writerow(row)
            self._value()
        return self._value()

    def writeheader(self) -> str:
        self._writer.writeheader()
        return self._value()

    def getvalue(self) -> str:
        return self._value()


def _writer(data: str = "", dialect: Any = "excel", **fmtparams: Any) -> _TextWriter:
    return _TextWriter(csv.writer, data, dialect, **fmtparams)


def _dict_writer(data: str, fieldnames: Any, *args: Any, **kwargs: Any) -> _TextWriter:
    return _TextWriter(csv.DictWriter, data, fieldnames, *args, **kwargs)


_GLOBAL_STATE: Final = "changes the server-wide csv settings"
CSV: Final = types.SimpleNamespace(
    reader=_reader,
    writer=_writer,
    DictReader=_dict_reader,
    DictWriter=_dict_writer,
    get_dialect=csv.get_dialect,
    list_dialects=csv.list_dialects,
    register_dialect=_unavailable("register_dialect", f"a server setting ({_GLOBAL_STATE})"),
    unregister_dialect=_unavailable("unregister_dialect", f"a server setting ({_GLOBAL_STATE})"),
    field_size_limit=_unavailable("field_size_limit", f"a server setting ({_GLOBAL_STATE})"),
    Dialect=csv.Dialect,
    excel=csv.excel,
    excel_tab=csv.excel_tab,
    unix_dialect=csv.unix_dialect,
    Error=csv.Error,
    QUOTE_ALL=csv.QUOTE_ALL,
    QUOTE_MINIMAL=csv.QUOTE_MINIMAL,
    QUOTE_NONNUMERIC=csv.QUOTE_NONNUMERIC,
    QUOTE_NONE=csv.QUOTE_NONE,
    **{
        name: getattr(csv, name)
        for name in ("QUOTE_NOTNULL", "QUOTE_STRINGS")
        if hasattr(csv, name)
    },
)
"""Julep's ``csv`` stand-in (see the module docstring)."""

TEXT_FUNCTIONS: Final[dict[str, Any]] = {
    "chunk_doc": chunk_doc,
    "markdown_to_html": markdown_to_html,
    "html_to_markdown": html_to_markdown,
    "nlp": _unavailable("nlp", "spaCy and its en_core_web_sm model"),
    "humanize_text_alpha": _unavailable("humanize_text_alpha", "a language-model pipeline"),
}
"""Julep's text functions, as the local server provides them."""
