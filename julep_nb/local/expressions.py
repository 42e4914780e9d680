"""Expressions and templates of the local engine, read by Julep's rule.

How a string is read (``$ …``, Julep's backwards-compatibility shorthands,
``{{ }}``, plain text as an f-string) is :mod:`julep_nb.local.syntax`; Python
follows 3.12's f-string grammar on every version (:mod:`julep_nb.local.fstrings`).
Python is evaluated by simpleeval (``EvalWithCompoundTypes``) over the names of
Julep's step context (:data:`NAMES`), the helpers and stdlib stand-ins of
:mod:`julep_nb.local.helpers` and the constants ``NEWLINE``/``true``/``false``/
``null``; a Jinja2 template (the local extension) is rendered in a sandbox.

Dicts and lists are evaluated recursively. Every evaluation runs under a
:class:`~julep_nb.local.sandbox.Budget` (time and size limits), and every
failure is an :class:`~julep_nb.local.errors.ExpressionError` naming the string.

Usage::

    evaluate_value({"total": "$ sum(_.xs)", "msg": "n={{ len(_.xs) }}"}, {"_": {"xs": [1, 2]}})
    # {'total': 3, 'msg': 'n=2'}
"""

from __future__ import annotations

import ast
import functools
import time
import types
from collections import ChainMap
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Final, cast

import simpleeval

from julep_nb.local import helpers, method_guards, sandbox, syntax, templates
from julep_nb.local.errors import ExpressionError
from julep_nb.local.fstrings import parse_expression
from julep_nb.local.sandbox import (
    MAX_DEPTH,
    MAX_EVAL_SECONDS,
    MAX_EXPRESSION_LENGTH,
    MAX_RESULT_SIZE,
    MAX_STRING_LENGTH,
    Budget,
    LimitExceeded,
)

__all__ = [
    "EXPRESSION_PREFIX",
    "NAMES",
    "compile_check",
    "evaluate",
    "evaluate_value",
    "is_expression",
    "is_template",
    "read",
    "render",
]

EXPRESSION_PREFIX: Final = "$ "
NAMES: Final = (
    "_",
    "inputs",
    "outputs",
    "steps",
    "state",
    "agent",
    "task",
    "execution",
    "arguments",
    "agent_tools",
    "secrets",
    "developer_id",
    "cursor",
    "current_input",
    "user",
    "session",
)
"""The names of Julep's step context, which the engine gives every expression."""
EXTRA_NAMES: Final = ("results",)
"""Names some fields add (``results`` in a map_reduce ``reduce``)."""

_BASE_NAMES: Final[dict[str, Any]] = {**helpers.MODULES, **helpers.CONSTANTS}
_KNOWN_NAMES: Final = frozenset({*NAMES, *_BASE_NAMES, *helpers.FUNCTIONS, "True", "False", "None"})
_READING_NAMES: Final = _KNOWN_NAMES | frozenset(EXTRA_NAMES)

# Nodes whose result is a newly built value: charged against the allocation budget.
# A set of exact types (parsers make no subclasses): asked for every node evaluated.
_BUILDERS: Final = frozenset(
    {
        ast.BinOp,
        ast.Call,
        ast.List,
        ast.Tuple,
        ast.Dict,
        ast.Set,
        ast.ListComp,
        ast.DictComp,
        ast.GeneratorExp,
        ast.JoinedStr,
    }
)
_AS_FSTRING: Final = (
    "; text without '$ ' is read as Julep reads it, as an f-string of the whole text "
    "(braces are fields, a quote may not end it): write the value as a Python string "
    'instead, e.g. $ "…"'
)
_AVAILABLE: Final = ", ".join(NAMES[:7]) + ", …"
_HIDDEN_PREFIXES: Final = tuple(simpleeval.DISALLOW_PREFIXES)
# Syntax the evaluator cannot run: refused at task creation, not at run time.
_UNSUPPORTED: Final[dict[type, str]] = {
    ast.Lambda: "lambda",
    ast.NamedExpr: "the walrus operator :=",
    ast.SetComp: "set comprehensions (use set([...]))",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Starred: "*unpacking outside a list",
}


def is_expression(value: Any) -> bool:
    """Whether ``value`` is a ``$ `` expression string."""
    return isinstance(value, str) and value.lstrip().startswith(EXPRESSION_PREFIX)


def is_template(value: Any) -> bool:
    """Whether ``value`` is a template string (contains ``{{`` or ``{%``)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _source(expr: str) -> str:
    text = expr.strip()
    return text[1:].strip() if text[:1] == "$" and text[1:2] in ("", " ") else text


def read(value: str, compat: bool | None = None) -> syntax.Reading:
    """How ``value`` is read (see :mod:`julep_nb.local.syntax`, also for ``compat``)."""
    return syntax.reading(value, _READING_NAMES, compat)


class _Evaluator(simpleeval.EvalWithCompoundTypes):
    """simpleeval with a deadline, a depth limit and an allocation budget per node."""

    def __init__(self, names: Mapping[str, Any], budget: Budget) -> None:
        super().__init__(
            operators=sandbox.OPERATORS, functions=dict(helpers.FUNCTIONS), names=names
        )
        self.budget = budget
        self.depth = 0

    def _eval(self, node: ast.AST) -> Any:
        budget = self.budget
        if time.monotonic() > budget.deadline:
            budget.check_time()
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise LimitExceeded(f"expression nested deeper than {MAX_DEPTH} levels")
            result = super()._eval(node)
        finally:
            self.depth -= 1
        kind = type(node)
        if kind in _BUILDERS or (
            kind is ast.Subscript and type(cast("ast.Subscript", node).slice) is ast.Slice
        ):
            budget.charge(result)
        return result

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        attr = node.attr
        if attr.startswith(_HIDDEN_PREFIXES) or attr in simpleeval.DISALLOW_METHODS:
            return super()._eval_attribute(node)  # raises simpleeval's refusal
        value = self._eval(node.value)
        # A key beats a dict method, so `_.items` is the "items" key as users expect.
        if isinstance(value, dict) and attr in value:
            return value[attr]
        try:
            item = getattr(value, attr)
        except (AttributeError, TypeError):
            raise simpleeval.AttributeDoesNotExist(attr, self.expr) from None
        if isinstance(item, types.ModuleType) or (
            callable(item) and item in simpleeval.DISALLOW_FUNCTIONS
        ):
            raise LimitExceeded(f"attribute {attr!r} is not available")
        return method_guards.guard_callable(item)

    # simpleeval applies its own (module-global) 100 kB cap to f-strings and no
    # cap to format specs; these two use ours.
    def _eval_joinedstr(self, node: ast.JoinedStr) -> str:
        parts: list[str] = []
        length = 0
        for value in node.values:
            text = str(self._eval(value))
            length += len(text)
            if length > MAX_STRING_LENGTH:
                raise LimitExceeded(f"f-string longer than {MAX_STRING_LENGTH:,} characters")
            parts.append(text)
        return "".join(parts)

    def _eval_formattedvalue(self, node: ast.FormattedValue) -> Any:
        value = self._eval(node.value)
        if node.conversion == ord("r"):
            value = repr(value)
        elif node.conversion in (ord("s"), ord("a")):
            value = str(value) if node.conversion == ord("s") else ascii(value)
        if node.format_spec is None:
            return value
        spec = str(self._eval(node.format_spec))
        sandbox.check_format_spec(spec)
        return format(value, spec)


@functools.lru_cache(maxsize=4096)
def _parse(source: str, expr: str) -> ast.expr:
    """The syntax tree of ``source`` (cached: tasks run the same expressions again and again).

    ``expr`` is the string as the task wrote it, for error messages.
    """
    if not source:
        raise ExpressionError(
            f"empty expression {expr!r}: write a Python expression after '$ '", expression=expr
        )
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression of {len(source):,} characters is longer than "
            f"{MAX_EXPRESSION_LENGTH:,}: {_short(expr)}",
            expression=expr,
        )
    try:
        return parse_expression(source)
    except SyntaxError as exc:
        raise ExpressionError(
            f"syntax error in expression {_short(expr)}: {exc.msg}"
            + (f" (column {exc.offset})" if exc.offset else "")
            + ("" if expr.strip().startswith("$") else _AS_FSTRING),
            expression=expr,
        ) from None
    except (MemoryError, RecursionError, ValueError) as exc:
        raise ExpressionError(
            f"expression {_short(expr)} cannot be parsed ({type(exc).__name__}): "
            "it is nested too deeply",
            expression=expr,
        ) from None


def _short(expr: str, limit: int = 200) -> str:
    return repr(expr if len(expr) <= limit else expr[:limit] + "…")


def compile_check(expr: str, *, extra_names: Iterable[str] = ()) -> None:
    """Check a string's syntax at task creation, where Julep does; ``ExpressionError``.

    ``$ `` expressions, Julep's shorthands and ``{{ }}`` strings may use the
    context's names (:data:`NAMES`), the helpers, their own comprehension
    variables and ``extra_names`` (e.g. ``results`` in a ``reduce``); any other
    name is reported now rather than at run time. Plain text is read as an
    f-string only when it runs, as in Julep, which does not check it earlier.
    """
    if not isinstance(expr, str):
        return
    found = read(expr)
    if found.kind == "template":
        templates.compile_check(expr)
        return
    if found.kind != "python" or not (found.legacy or expr.strip().startswith("$")):
        return
    tree = _parse(found.source, expr)
    known = _KNOWN_NAMES | set(extra_names)
    local = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    for node in ast.walk(tree):
        feature = _UNSUPPORTED.get(type(node))
        if feature is not None:
            problem = f"{feature} is not supported in expressions"
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            problem = f"attribute {node.attr!r} is not accessible in expressions"
        elif isinstance(node, ast.Name) and node.id not in known and node.id not in local:
            problem = f"name {node.id!r} is not defined (available: {_AVAILABLE} and helpers)"
        else:
            continue
        raise ExpressionError(f"{problem}: {_short(expr)}", expression=expr)


def _fail(expr: str, exc: BaseException) -> ExpressionError:
    if isinstance(exc, simpleeval.NameNotDefined):
        reason = f"name {exc.name!r} is not defined (available: {_AVAILABLE} and helpers)"
    elif isinstance(exc, simpleeval.FunctionNotDefined):
        reason = f"function {exc.func_name!r} is not available"
    elif isinstance(exc, simpleeval.AttributeDoesNotExist):
        reason = f"no attribute or key {exc.attr!r}"
    elif isinstance(exc, (LimitExceeded, simpleeval.InvalidExpression)):
        reason = str(exc)
    elif isinstance(exc, KeyError):
        reason = f"no key {exc.args[0]!r}" if exc.args else "missing key"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    error = ExpressionError(f"expression {_short(expr)} failed: {reason}", expression=expr)
    return error


_IDLE: Final[list[_Evaluator]] = []
"""Evaluators to reuse: building one (simpleeval's node table) costs more than a step."""
_IDLE_MAX: Final = 8


def _evaluator(names: Mapping[str, Any], budget: Budget) -> _Evaluator:
    try:
        evaluator = _IDLE.pop()  # atomic: sessions on other threads take other evaluators
    except IndexError:
        return _Evaluator(names, budget)
    evaluator.names, evaluator.budget, evaluator.depth = names, budget, 0
    return evaluator


def _release(evaluator: _Evaluator) -> None:
    evaluator.names = {}  # keep no step's values alive
    if len(_IDLE) < _IDLE_MAX:
        _IDLE.append(evaluator)
    else:
        evaluator.nodes = None  # break the evaluator ↔ bound-method cycle at once


class _Session:
    """One evaluation: a budget, the names, and one evaluator for all its expressions."""

    def __init__(
        self, names: Mapping[str, Any], seconds: float, compat: bool | None = None
    ) -> None:
        self.names = names
        self.compat = compat
        self.budget = Budget(seconds)
        self._evaluator: _Evaluator | None = None

    def __enter__(self) -> _Session:
        self._restore = sandbox.use_budget(self.budget)
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()
        if self._evaluator is not None:
            _release(self._evaluator)
            self._evaluator = None

    def run(self, expr: str, source: str | None = None) -> Any:
        tree = _parse(_source(expr) if source is None else source, expr)
        if self._evaluator is None:
            self._evaluator = _evaluator(
                ChainMap({}, cast("MutableMapping[str, Any]", self.names), _BASE_NAMES), self.budget
            )
        try:
            return self._evaluator.eval(expr, previously_parsed=tree)
        except ExpressionError:
            raise
        except Exception as exc:  # any failure inside user code is the expression's failure
            raise _fail(expr, exc) from None

    def render(self, template: str) -> str:
        return templates.render(template, {**_BASE_NAMES, **self.names}, self.budget)

    def walk(self, value: Any) -> Any:
        if isinstance(value, str):
            found = read(value, self.compat)
            if found.kind == "python":
                return self.run(value, found.source)
            if found.kind == "template":
                return self.render(value)
            return found.source
        if isinstance(value, dict):
            return {key: self.walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.walk(item) for item in value]
        return value


def _check_result(expr: str, value: Any) -> Any:
    if sandbox.deep_size(value, MAX_RESULT_SIZE) > MAX_RESULT_SIZE:
        raise ExpressionError(
            f"expression {_short(expr)} failed: its result is larger than "
            f"{MAX_RESULT_SIZE:,} characters",
            expression=expr,
        )
    return value


def evaluate(expr: str, names: Mapping[str, Any], *, seconds: float = MAX_EVAL_SECONDS) -> Any:
    """Evaluate one Python expression (the ``$ `` prefix is optional) under the limits."""
    with _Session(names, seconds) as session:
        return _check_result(expr, session.run(expr))


def render(template: str, names: Mapping[str, Any], *, seconds: float = MAX_EVAL_SECONDS) -> str:
    """Render one template string under the limits."""
    with _Session(names, seconds) as session:
        return session.render(template)


def evaluate_value(
    value: Any,
    names: Mapping[str, Any],
    *,
    seconds: float = MAX_EVAL_SECONDS,
    compat: bool | None = None,
) -> Any:
    """Evaluate expressions and templates anywhere inside ``value`` (dicts, lists).

    One budget covers the whole structure, so a step cannot multiply the time
    limit by writing many expressions. ``compat``: the backwards-compatibility
    switch as the caller read it (see :func:`julep_nb.local.syntax.reading`).
    """
    with _Session(names, seconds, compat) as session:
        result = session.walk(value)
    return _check_result(value if isinstance(value, str) else "<step values>", result)
