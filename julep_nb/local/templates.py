"""Jinja2 templates for prompts and messages, in a locked-down sandbox.

Templates may use ``{{ expressions }}``, ``{% if %}`` and ``{% for %}`` (what
prompts need); other statements (``set``, ``macro``, ``include``…) are refused
when the task is created. On top of Jinja's ``ImmutableSandboxedEnvironment``
(no ``__`` attributes, no in-place mutation):

- ``* ** + %`` and ``~`` go through the size-checked operators of
  :mod:`julep_nb.local.sandbox`; ``str.format`` is not available;
- only an allow-list of filters exists, and the ones that can amplify their
  input (``center``, ``indent``, ``join``, ``replace``, ``round``, ``sum``,
  ``tojson``, ``wordwrap``) check sizes first;
- every loop iteration, call and attribute access checks the deadline, and
  the rendered text may not exceed ``MAX_STRING_LENGTH``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import jinja2
from jinja2 import nodes
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment

from julep_nb.local import helpers, method_guards, sandbox
from julep_nb.local.errors import ExpressionError
from julep_nb.local.sandbox import MAX_STRING_LENGTH, Budget, LimitExceeded

__all__ = ["compile_check", "render"]

_ALLOWED_STATEMENTS: Final = (nodes.Output, nodes.If, nodes.For)
_LOOP_GUARD: Final = "julep_loop_guard"
_CONCAT: Final = "julep_concat"


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = sandbox.current_budget()
    for item in iterable:
        budget.check_time()
        yield item


def _concat(parts: list[Any]) -> str:
    texts = [str(p) for p in parts if sandbox.deep_size(p, MAX_STRING_LENGTH) <= MAX_STRING_LENGTH]
    if len(texts) != len(parts) or sum(len(t) for t in texts) > MAX_STRING_LENGTH:
        raise LimitExceeded(f"'~' would build more than {MAX_STRING_LENGTH:,} characters")
    return "".join(texts)


def _checked(name: str, check: Any) -> Any:
    """Wrap Jinja's filter ``name`` with a size check on its arguments."""
    original = FILTERS[name]

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return original(*args, **kwargs)

    return wrapper


def _width(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> None:
    if isinstance(width, int):
        sandbox.check_length(width)


def _indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    size = width if isinstance(width, int) else len(str(width))
    lines = str(value).count("\n") + 1
    if size * lines + len(str(value)) > MAX_STRING_LENGTH:
        raise LimitExceeded(f"indent() would build more than {MAX_STRING_LENGTH:,} characters")


def _join(eval_ctx: Any, value: Any, d: str = "", *args: Any, **kwargs: Any) -> None:
    if sandbox.deep_size(value, MAX_STRING_LENGTH) + len(d) * _len(value) > MAX_STRING_LENGTH:
        raise LimitExceeded(f"join() would build more than {MAX_STRING_LENGTH:,} characters")


def _len(value: Any) -> int:
    return len(value) if hasattr(value, "__len__") else 0


def _replace(eval_ctx: Any, s: Any, old: str, new: str, count: int | None = None) -> None:
    method_guards.check_method_args("replace", str(s), (old, new, -1 if count is None else count))


def _round(value: Any, precision: int = 0, method: str = "common") -> None:
    helpers.safe_round(0, precision)


def _tojson(eval_ctx: Any, value: Any, indent: Any = None) -> None:
    helpers.safe_json_dumps(value, **({} if indent is None else {"indent": indent}))


def _wordwrap(env: Any, s: Any, width: int = 79, *args: Any, **kwargs: Any) -> None:
    wrapstring = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
    if len(str(wrapstring)) > 16:
        raise LimitExceeded("wordwrap() wrapstring must be at most 16 characters")


@jinja2.pass_environment
def _sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    if attribute is not None:
        return FILTERS["sum"](environment, iterable, attribute, start)
    return helpers.safe_sum(iterable, start)


_PLAIN_FILTERS: Final = (
    "abs attr batch capitalize count d default dictsort e escape first float groupby int "
    "items last length list lower map max min random reject rejectattr reverse select "
    "selectattr sort string striptags title trim truncate unique upper urlencode wordcount"
).split()

_FILTERS: Final[dict[str, Any]] = {
    **{name: FILTERS[name] for name in _PLAIN_FILTERS},
    "center": _checked("center", _width),
    "indent": _checked("indent", _indent),
    "join": _checked("join", _join),
    "replace": _checked("replace", _replace),
    "round": _checked("round", _round),
    "tojson": _checked("tojson", _tojson),
    "wordwrap": _checked("wordwrap", _wordwrap),
    "sum": _sum,
    _LOOP_GUARD: _loop_guard,
    _CONCAT: _concat,
}

_BINOPS: Final = {
    "*": sandbox.safe_mult,
    "**": sandbox.safe_power,
    "+": sandbox.safe_add,
    "%": sandbox.safe_mod,
}


def _finalize(value: Any) -> Any:
    if sandbox.deep_size(value, MAX_STRING_LENGTH) > MAX_STRING_LENGTH:
        raise LimitExceeded(f"a value of more than {MAX_STRING_LENGTH:,} characters")
    return value


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with our operators, filters and deadline checks."""

    intercepted_binops = frozenset(_BINOPS)

    def __init__(self) -> None:
        super().__init__(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            finalize=_finalize,
            keep_trailing_newline=True,
        )
        self.filters = dict(_FILTERS)
        self.globals = {
            **helpers.FUNCTIONS,
            "range": helpers.safe_range,
            "dict": dict,
        }

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return attr not in ("format", "format_map") and super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format is refused by is_safe_attribute instead

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        return _BINOPS[operator](left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        sandbox.current_budget().check_time()
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]  # `_.items` is the "items" key, as in expressions
        return super().getattr(obj, attribute)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        sandbox.current_budget().check_time()
        return super().call(__context, method_guards.guard_callable(__obj), *args, **kwargs)


_ENV: Final = _Environment()


def _check_and_guard(tree: nodes.Template, source: str) -> None:
    for node in tree.find_all(nodes.Stmt):
        if not isinstance(node, _ALLOWED_STATEMENTS):
            name = type(node).__name__.lower()
            raise ExpressionError(
                f"template statement {name!r} (line {node.lineno}) is not supported: "
                f"templates may use {{{{ … }}}}, {{% if %}} and {{% for %}} only: "
                f"{source[:200]!r}",
                expression=source,
            )
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, _LOOP_GUARD, [], [], None, None, lineno=loop.lineno)
    for concat in list(tree.find_all(nodes.Concat)):
        parts = nodes.List(concat.nodes, lineno=concat.lineno)
        guarded = nodes.Filter(parts, _CONCAT, [], [], None, None, lineno=concat.lineno)
        # Turn the Concat node into a one-operand concat of the guarded result.
        concat.nodes = [guarded]


@functools.lru_cache(maxsize=512)
def _compile(source: str) -> jinja2.Template:
    if len(source) > sandbox.MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"template of {len(source):,} characters is longer than "
            f"{sandbox.MAX_EXPRESSION_LENGTH:,}",
            expression=source,
        )
    try:
        tree = _ENV.parse(source)
        _check_and_guard(tree, source)
        code = _ENV.compile(tree)
    except jinja2.TemplateSyntaxError as exc:
        raise ExpressionError(
            f"template syntax error (line {exc.lineno}): {exc.message}: {source[:200]!r}",
            expression=source,
        ) from None
    return _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None), None)


def compile_check(source: str) -> None:
    """Check a template's syntax and statements (``ExpressionError``)."""
    _compile(source)


def render(source: str, names: Mapping[str, Any], budget: Budget) -> str:
    """Render ``source`` with ``names`` under ``budget`` (the caller makes it current)."""
    template = _compile(source)
    parts: list[str] = []
    length = 0
    try:
        for chunk in template.generate(dict(names)):
            length += len(chunk)
            if length > MAX_STRING_LENGTH:
                raise LimitExceeded(f"rendered text is over {MAX_STRING_LENGTH:,} characters")
            budget.check_time()
            parts.append(chunk)
    except ExpressionError:
        raise
    except Exception as exc:  # anything the template does wrong is the template's error
        reason = str(exc) if isinstance(exc, LimitExceeded) else f"{type(exc).__name__}: {exc}"
        raise ExpressionError(
            f"template {source[:200]!r} failed: {reason}", expression=source
        ) from None
    return "".join(parts)
