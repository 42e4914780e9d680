"""``{expr}`` and ``$name`` on a magic line, expanded the IPython way.

IPython expands variables on the line of every built-in magic; the Julep magics opt
out (``@no_var_expand``) because JSON option values such as ``--input {"n": 1}``
would be mangled, and expand here instead, one argument at a time: every argument
but the values of the JSON options. ``$$`` and ``{{ }}`` stay literal ``$`` and braces.
An argument whose expression fails is kept as written, and the error is remembered,
so that an id that still looks like a template can be refused with its cause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from IPython.utils.text import DollarFormatter

from julep_nb.sources.julep.errors import InputError

__all__ = ["JSON_OPTIONS", "Expansion", "expand_args", "looks_like_template"]

JSON_OPTIONS: Final = frozenset({"--input", "--metadata", "--payload"})

_TEMPLATE: Final = re.compile(r"\{[^{}]+\}|\$\{?[A-Za-z_]\w*")


def looks_like_template(text: str) -> bool:
    """``{task.id}`` or ``$tid``: an argument that was meant to be expanded."""
    return bool(_TEMPLATE.search(text))


class Expansion(list[str]):
    """The expanded arguments, and why any argument could not be expanded."""

    def __init__(self, args: Iterable[str], failures: Mapping[str, str]) -> None:
        super().__init__(args)
        self.failures = dict(failures)

    def check_ref(self, value: str, *, what: str) -> str:
        """``value`` (an id or name argument), refused if it is still a template."""
        if not looks_like_template(value):
            return value
        cause = self.failures.get(value, "it expands to itself")
        raise InputError(
            f"{what} {value!r} looks like an unexpanded variable ({cause}): define the "
            "variable in a cell above and run this cell again, or write the id itself. "
            "Nothing was sent."
        )


def expand_args(args: Iterable[str], namespace: Mapping[str, Any] | None) -> Expansion:
    """Each argument with ``{expr}``/``$name`` replaced from ``namespace``.

    The values of :data:`JSON_OPTIONS` (``--input {"n": 1}``, ``--metadata={...}``)
    arrive intact. With no namespace (no IPython shell) nothing is expanded.
    """
    args = list(args)
    if namespace is None:
        return Expansion(args, {})
    formatter = DollarFormatter()
    scope = dict(namespace)  # eval() may add __builtins__: never to the user's namespace
    out: list[str] = []
    failures: dict[str, str] = {}
    literal = False
    for arg in args:
        name, eq, _ = arg.partition("=")
        if literal or arg in JSON_OPTIONS or (eq and name in JSON_OPTIONS):
            literal = arg in JSON_OPTIONS
            out.append(arg)
            continue
        try:
            out.append(formatter.vformat(arg, args=[], kwargs=scope))
        except Exception as exc:  # as IPython does: a failed expansion keeps the text
            failures[arg] = f"{type(exc).__name__}: {exc}"
            out.append(arg)
    return Expansion(out, failures)
