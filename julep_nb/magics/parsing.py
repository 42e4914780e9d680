"""Pure parsing for the magics: cell bodies (YAML or JSON) and splitting magic lines.

Nothing here talks to a server or to IPython: every function takes text and returns
data or raises :class:`~julep_nb.sources.julep.errors.InputError` with a message that names
the line and column, so that a bad cell sends nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import yaml

from julep_nb.sources.julep.errors import InputError

__all__ = [
    "MAX_BODY_CHARS",
    "has_content",
    "parse_body",
    "parse_value",
    "parse_mapping_option",
    "split_args",
]

MAX_BODY_CHARS: Final = 1_000_000

_OPENERS: Final = {"{": "}", "[": "]"}


# ---------------------------------------------------------------------- bodies


class _BodyLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as strings and refuses aliases.

    Dates stay strings because the body is sent as JSON; aliases are refused because
    a few lines of them can expand to gigabytes ("billion laughs").
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"the alias *{event.anchor} is not allowed here (write the value out)",
                event.start_mark,
            )
        return super().compose_node(parent, index)


_BodyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def has_content(text: str | None) -> bool:
    """Whether a cell body says anything: blank and ``#`` comment lines do not."""
    return any(
        line.strip() and not line.lstrip().startswith("#") for line in (text or "").splitlines()
    )


def parse_body(text: str | None, *, what: str = "cell body") -> dict[str, Any]:
    """A cell body as a dict: YAML, or JSON when it starts with ``{``; empty is ``{}``.

    Raises :class:`InputError` naming the line and column of a syntax error, or
    saying what came instead of a mapping.
    """
    if not has_content(text):
        return {}
    assert text is not None
    if len(text) > MAX_BODY_CHARS:
        raise InputError(
            f"The {what} is {len(text):,} characters; the limit is {MAX_BODY_CHARS:,}. "
            "Pass large inputs with --input-var NAME instead."
        )
    data = _load(text, what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"The {what} is a {_kind(data)}, but it must be a mapping: write `key: value` "
            "lines (YAML) or a JSON object {...}. Nothing was sent."
        )
    return data


def parse_value(text: str | None, *, what: str) -> Any:
    """Any YAML or JSON value (a signal's payload); an empty text is None (no payload)."""
    if not has_content(text):
        return None
    assert text is not None
    if len(text) > MAX_BODY_CHARS:
        raise InputError(
            f"The {what} is {len(text):,} characters; the limit is {MAX_BODY_CHARS:,}. "
            "Nothing was sent."
        )
    return _load(text, what)


def _load(text: str, what: str) -> Any:
    # Text that starts like JSON is JSON, strictly: YAML's flow style would quietly
    # accept broken JSON (`{"a": }` is `{"a": None}` in YAML).
    if text.lstrip()[:1] in _OPENERS:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _json_error(text, exc, what) from None
        except RecursionError:
            raise InputError(f"The {what} is nested too deeply. Nothing was sent.") from None
    try:
        return yaml.load(text, Loader=_BodyLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(text, exc, what) from None
    except yaml.YAMLError as exc:
        raise InputError(f"Cannot parse the {what} as YAML: {exc}. Nothing was sent.") from None
    except RecursionError:
        raise InputError(f"The {what} is nested too deeply. Nothing was sent.") from None


def _yaml_error(text: str, exc: yaml.MarkedYAMLError, what: str) -> InputError:
    problem = exc.problem or exc.context or "invalid YAML"
    lines = text.splitlines() or [""]
    if exc.problem_mark is not None and exc.problem_mark.line < len(lines):
        mark = exc.problem_mark
        return _located(text, what, "YAML", problem, mark.line + 1, mark.column + 1)
    # The problem is at the end of the text ("found '<stream end>'"): point at the
    # bracket that was opened and never closed, else at the end of the last line.
    if exc.context_mark is not None and exc.context_mark.line < len(lines):
        mark = exc.context_mark
        opened = re.sub(r"^while (parsing|scanning) ", "", exc.context or "a bracket")
        problem = f"{opened} opened here is not closed ({problem})"
        return _located(text, what, "YAML", problem, mark.line + 1, mark.column + 1)
    return _located(text, what, "YAML", problem, len(lines), len(lines[-1]) + 1)


def _json_error(text: str, exc: json.JSONDecodeError, what: str) -> InputError:
    return _located(text, what, "JSON", exc.msg, exc.lineno, exc.colno)


def _located(text: str, what: str, fmt: str, problem: str, line: int, column: int) -> InputError:
    lines = text.splitlines() or [""]
    source = lines[min(line, len(lines)) - 1]
    pointer = " " * (min(column, len(source) + 1) - 1) + "^"
    return InputError(
        f"Cannot parse the {what} as {fmt}: line {line}, column {column}: {problem}.\n"
        f"    {source}\n    {pointer}\n"
        "Nothing was sent: fix the body and run the cell again."
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def parse_mapping_option(value: str, *, option: str) -> dict[str, Any]:
    """The value of an option such as ``--input`` or ``--metadata``: a JSON object."""
    if not value.strip():
        raise InputError(f"{option} needs a value, e.g. {option} '{{\"x\": 1}}'.")
    return parse_body(value, what=f"value of {option}")


# ---------------------------------------------------------------------- magic lines


def split_args(line: str) -> list[str]:
    """Split a magic line into arguments, shell-style, keeping JSON values whole.

    Quotes group words (``'a b'`` is one argument, without the quotes); a ``{...}`` or
    ``[...]`` group is kept verbatim, quotes and spaces included, so that
    ``--input {"topic": "otters"}`` needs no extra quoting.
    """
    args: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        word: list[str] = []
        while i < n and not line[i].isspace():
            char = line[i]
            if char in _OPENERS:
                end = _group_end(line, i)
                word.append(line[i:end])
                i = end
            elif char in "\"'":
                end = _quote_end(line, i)
                word.append(_unquote(line[i + 1 : end - 1], char))
                i = end
            else:
                word.append(char)
                i += 1
        args.append("".join(word))
    return args


def _quote_end(line: str, start: int) -> int:
    quote = line[start]
    i = start + 1
    while i < len(line):
        if line[i] == "\\" and quote == '"':
            i += 2
            continue
        if line[i] == quote:
            return i + 1
        i += 1
    raise InputError(
        f"Unclosed {quote} quote at column {start + 1} of the magic line: {line!r}. "
        f"Close it with {quote}."
    )


def _unquote(text: str, quote: str) -> str:
    if quote == "'":
        return text
    return text.replace('\\"', '"').replace("\\\\", "\\")


def _group_end(line: str, start: int) -> int:
    """Index after the bracket that closes the one at ``start`` (quotes respected)."""
    stack = [_OPENERS[line[start]]]
    i = start + 1
    while i < len(line) and stack:
        char = line[i]
        if char in "\"'":
            i = _quote_end(line, i)
            continue
        if char in _OPENERS:
            stack.append(_OPENERS[char])
        elif char in "}]":
            if char != stack[-1]:
                break
            stack.pop()
        i += 1
    if stack:
        raise InputError(
            f"Unbalanced {line[start]!r} at column {start + 1} of the magic line: "
            f"expected {stack[-1]!r} before the end. Check the JSON value."
        )
    return i
