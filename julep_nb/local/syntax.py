"""How a string in a task is read: Julep's rule, with its backwards-compatibility step.

Julep (``base_evaluate`` and ``backwards_compatibility`` in its agents-api)
evaluates every string of a step the same way; :func:`reading` mirrors it:

1. the string is stripped; ``$ …`` is a Python expression;
2. one holding ``{{`` is the f-string ``f'''…'''`` of its text with ``{{``/``}}``
   turned into ``{``/``}`` (so ``Hi {{_.name}}`` is ``f'''Hi {_.name}'''``);
3. shorthands are expressions: ``_``, ``_.x``, ``_[…]``, ``[…]``, and any text
   holding ``inputs[`` or ``outputs[``;
4. any other text is the f-string ``f'''text'''``: plain text stays as it is, a
   ``{name}`` field is filled in, backslash escapes are processed.

Local extension: a string that Julep's step 2 cannot read (a ``{% %}`` block, a
syntax error, or a name Julep does not define, such as a Jinja filter in
``{{ xs|length }}``) is rendered as a sandboxed Jinja2 template instead, as older
Julep releases did. The switch ``JULEP_NB_BACKWARDS_COMPATIBILITY=0`` turns steps
2 and 3 off (Julep's ``ENABLE_BACKWARDS_COMPATIBILITY_FOR_SYNTAX``).
"""

from __future__ import annotations

import ast
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from julep_nb.local.fstrings import parse_expression

__all__ = ["Reading", "backwards_compatible", "reading", "shorthand"]

EXPRESSION_PREFIX: Final = "$ "
_PLAIN_SAFE: Final = frozenset("{}\\'")


@dataclass(frozen=True)
class Reading:
    """What a string is: Python ``source`` to evaluate, a Jinja ``template``, or ``text``."""

    kind: Literal["python", "template", "text"]
    source: str
    legacy: bool = False  # read by the backwards-compatibility rule (steps 2–3)


def backwards_compatible() -> bool:
    """Whether Julep's backwards-compatibility rule is on (it is by default, as in Julep)."""
    return os.environ.get("JULEP_NB_BACKWARDS_COMPATIBILITY", "1").strip().lower() not in (
        "0",
        "false",
        "no",
        "off",
    )


def shorthand(text: str) -> bool:
    """Whether stripped ``text`` is one of Julep's expression shorthands (step 3)."""
    return (
        text == "_"
        or text.startswith("_.")
        or (text.startswith("[") and text.endswith("]"))
        or (text.startswith("_[") and text.endswith("]"))
        or "outputs[" in text
        or "inputs[" in text
    )


def _fstring(text: str) -> str:
    return "f'''" + text + "'''"


def _names_known(source: str, known: frozenset[str]) -> bool:
    try:
        tree = parse_expression(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    bound = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    return all(n.id in known or n.id in bound for n in ast.walk(tree) if isinstance(n, ast.Name))


@functools.lru_cache(maxsize=8192)
def _reading(value: str, known: frozenset[str], compat: bool) -> Reading:
    text = value.strip()
    if text.startswith(EXPRESSION_PREFIX) or text == "$":
        return Reading("python", text[1:].strip())
    if compat and "{{" in text:
        source = _fstring(text.replace("{{", "{").replace("}}", "}"))
        if "{%" in text or not _names_known(source, known):
            return Reading("template", value)
        return Reading("python", source, legacy=True)
    if compat and shorthand(text):
        return Reading("python", text, legacy=True)
    if "{%" in text:
        return Reading("template", value)
    if not _PLAIN_SAFE.intersection(text):
        return Reading("text", text)
    return Reading("python", _fstring(text))


def reading(value: str, known: Iterable[str], compat: bool | None = None) -> Reading:
    """How Julep reads ``value``; ``known`` are the names expressions may use.

    ``compat``: the switch as the caller read it (the engine, once per execution:
    a missing environment variable costs more to look up than the reading).
    """
    if compat is None:
        compat = backwards_compatible()
    return _reading(value, frozenset(known), compat)
