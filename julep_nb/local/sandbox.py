"""Limits and guarded building blocks shared by ``$ `` expressions and templates.

simpleeval and the Jinja sandbox stop attribute escapes (``__class__``…), but
not work or memory bombs: ``'a'.ljust(10**9)``, ``9**9**9``, ``round(5, -10**8)``,
``[[0]*10**6]*10**6 == …`` or a catastrophic regular expression each run as one
C call that no deadline check can interrupt. So every operator and helper that
can amplify its input is replaced here by a version that checks the size of its
result *before* computing it, and every evaluation carries a :class:`Budget`
(a deadline and an allocation allowance) that the evaluators check between
steps. Everything raises :class:`LimitExceeded`; the callers turn it into an
``ExpressionError`` naming the expression.
"""

from __future__ import annotations

import ast
import functools
import re
import time
import types
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

import simpleeval

__all__ = [
    "MAX_ALLOCATION",
    "MAX_COLLECTION_SIZE",
    "MAX_COMPREHENSION_LENGTH",
    "MAX_DEPTH",
    "MAX_EVAL_SECONDS",
    "MAX_EXPRESSION_LENGTH",
    "MAX_FORMAT_WIDTH",
    "MAX_INT_BITS",
    "MAX_POWER",
    "MAX_RESULT_SIZE",
    "MAX_ROUND_DIGITS",
    "MAX_STRING_LENGTH",
    "OPERATORS",
    "Budget",
    "LimitExceeded",
    "check_format_spec",
    "check_length",
    "check_method_args",
    "current_budget",
    "deep_size",
    "guard_callable",
    "use_budget",
]

# ------------------------------------------------------------------------ limits

MAX_EVAL_SECONDS: Final = 0.5
"""Wall-clock time one evaluation (a step's whole expression tree) may take."""
MAX_STRING_LENGTH: Final = 1_000_000
"""Longest string or bytes value an operation may build."""
MAX_COLLECTION_SIZE: Final = 1_000_000
"""Most elements a list, range or repetition may have."""
MAX_RESULT_SIZE: Final = 5_000_000
"""Largest result (approximate JSON size in characters) an evaluation may return."""
MAX_ALLOCATION: Final = 20_000_000
"""Total approximate size of all values one evaluation may build."""
MAX_POWER: Final = 10_000
"""Largest exponent of ``**``."""
MAX_INT_BITS: Final = 65_536
"""Largest integer (in bits) that ``*``, ``**`` and ``<<`` may produce."""
MAX_FORMAT_WIDTH: Final = 10_000
"""Largest width or precision in a format spec (``f"{x:>10}"``, ``'%.3f' % x``)."""
MAX_COMPREHENSION_LENGTH: Final = int(simpleeval.MAX_COMPREHENSION_LENGTH)
"""Most iterations of one comprehension (enforced by simpleeval itself)."""
MAX_DEPTH: Final = 100
"""Deepest nesting of an expression's syntax tree."""
MAX_EXPRESSION_LENGTH: Final = 100_000
"""Longest expression or template source."""
MAX_ROUND_DIGITS: Final = 1_000
"""Largest ``ndigits`` of ``round`` (``round(5, -10**8)`` would never return)."""


class LimitExceeded(Exception):
    """An evaluation hit one of the limits above (or is not allowed to do something)."""


# ------------------------------------------------------------------------ budget


class Budget:
    """Deadline and allocation allowance of one evaluation."""

    __slots__ = ("deadline", "remaining", "seconds")

    def __init__(self, seconds: float = MAX_EVAL_SECONDS, allocation: int = MAX_ALLOCATION):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.remaining = allocation

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"evaluation took longer than {self.seconds} s")

    def time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise LimitExceeded(f"evaluation took longer than {self.seconds} s")
        return left

    def charge(self, value: Any) -> None:
        """Count a newly built value against the allocation allowance."""
        if type(value) in _CHEAP:
            return
        self.remaining -= deep_size(value, self.remaining, self)
        if self.remaining < 0:
            raise LimitExceeded(
                f"evaluation built more than {MAX_ALLOCATION:,} characters of data in total"
            )


_budget: ContextVar[Budget | None] = ContextVar("julep_nb_budget", default=None)


def current_budget() -> Budget:
    """The running evaluation's budget (a fresh default one outside an evaluation)."""
    budget = _budget.get()
    return budget if budget is not None else Budget()


def use_budget(budget: Budget) -> Callable[[], None]:
    """Make ``budget`` current; returns the function that restores the previous one."""
    token = _budget.set(budget)
    return lambda: _budget.reset(token)


# ------------------------------------------------------------------------ sizes

_CHEAP: Final = frozenset({float, bool, type(None)})
_SEQUENCES: Final = (list, tuple, set, frozenset)
_SCALARS: Final = frozenset({str, bytes, int, float, bool, type(None)})


def _scalar_size(item: Any, kind: type) -> int:
    if kind is str or kind is bytes or kind is bytearray:
        return len(item) + 2
    if kind is int:
        return int(item.bit_length() // 3 + 1)
    return 24  # floats, None, booleans, datetimes…


def deep_size(value: Any, limit: int = MAX_RESULT_SIZE, budget: Budget | None = None) -> int:
    """Approximate JSON size of ``value`` in characters; stops counting above ``limit``.

    Shared references count every time they appear, as they would once
    serialised: ``[s] * 1000`` is as big as 1000 copies of ``s``. With a
    ``budget``, a long walk also stops at its deadline.
    """
    total = 0
    stack = [value]
    seen = 0
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict or kind in _SEQUENCES or isinstance(item, _SEQUENCES):
            children = (*item.keys(), *item.values()) if kind is dict else item
            total += (4 if kind is dict else 2) * len(item) + 2
            for child in children:
                if total > limit:
                    return total
                child_kind = type(child)
                if child_kind in _SCALARS:
                    total += _scalar_size(child, child_kind)
                else:
                    stack.append(child)
            seen += len(item)
            if budget is not None and seen > 65_536:
                budget.check_time()
                seen = 0
        else:
            total += _scalar_size(item, kind)
        if total > limit:
            return total
    return total


def check_length(length: int, what: str = "string") -> None:
    """Refuse to build a string (or bytes) of ``length`` characters over the limit."""
    if length > MAX_STRING_LENGTH:
        raise LimitExceeded(
            f"the result would be a {what} of {length:,} characters "
            f"(at most {MAX_STRING_LENGTH:,} allowed)"
        )


def _check_int(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise LimitExceeded(f"the result would be a {bits:,}-bit integer (max {MAX_INT_BITS:,})")


_TEXT: Final = (str, bytes, bytearray)

# ------------------------------------------------------------------------ operators


def safe_mult(a: Any, b: Any) -> Any:
    """``*`` that refuses huge repetitions and huge integers."""
    if isinstance(b, int) and not isinstance(a, (int, float, complex)):
        a, b = b, a
    if isinstance(a, int) and hasattr(b, "__len__"):
        if isinstance(b, _TEXT):
            check_length(len(b) * max(a, 0))
        elif a > 0:
            # Deep size, not len: [[0] * 10**6] * 10**6 is small until someone compares it.
            if len(b) * a > MAX_COLLECTION_SIZE:
                raise LimitExceeded(
                    f"repeating a {len(b)}-element sequence {a:,} times makes more than "
                    f"{MAX_COLLECTION_SIZE:,} elements"
                )
            if deep_size(b, MAX_ALLOCATION // a) * a > MAX_ALLOCATION:
                raise LimitExceeded("this repetition would build too much data")
    elif isinstance(a, int) and isinstance(b, int):
        _check_int(a.bit_length() + b.bit_length())
    return a * b


def safe_add(a: Any, b: Any) -> Any:
    """``+`` that refuses to build over-long strings or sequences."""
    if hasattr(a, "__len__") and hasattr(b, "__len__"):
        if isinstance(a, _TEXT):
            check_length(len(a) + len(b))
        elif len(a) + len(b) > MAX_COLLECTION_SIZE:
            raise LimitExceeded(f"the result would have more than {MAX_COLLECTION_SIZE:,} elements")
    return a + b


def safe_power(a: Any, b: Any) -> Any:
    """``**`` with a bounded exponent and a bounded integer result."""
    if isinstance(b, (int, float)) and abs(b) > MAX_POWER:
        raise LimitExceeded(f"exponent {b} is larger than {MAX_POWER:,}")
    if isinstance(a, int) and isinstance(b, int) and b > 0:
        _check_int(max(a.bit_length(), 1) * b)
    return a**b


def safe_lshift(a: Any, b: Any) -> Any:
    """``<<`` with a bounded integer result."""
    if isinstance(a, int) and isinstance(b, int) and b > 0:
        _check_int(a.bit_length() + b)
    return a << b


_PERCENT_SPEC: Final = re.compile(r"%[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?")


def check_format_spec(spec: str) -> None:
    """Refuse format specs whose width or precision would build a huge string."""
    if "*" in spec:
        raise LimitExceeded("'*' widths are not allowed in format specs")
    for number in re.findall(r"\d+", spec):
        if len(number) > 6 or int(number) > MAX_FORMAT_WIDTH:
            raise LimitExceeded(
                f"format width/precision {number} is larger than {MAX_FORMAT_WIDTH:,}"
            )


def safe_mod(a: Any, b: Any) -> Any:
    """``%``: printf-style formatting with bounded widths; modulo otherwise."""
    if isinstance(a, _TEXT):
        text = a.decode("latin-1") if isinstance(a, (bytes, bytearray)) else a
        for spec in _PERCENT_SPEC.findall(text):
            check_format_spec(spec)
        if deep_size(b, MAX_STRING_LENGTH) > MAX_STRING_LENGTH:
            raise LimitExceeded("the values to format are too large")
    return a % b


OPERATORS: Final[dict[type, Callable[..., Any]]] = {
    **simpleeval.DEFAULT_OPERATORS,
    ast.Add: safe_add,
    ast.Mult: safe_mult,
    ast.Pow: safe_power,
    ast.LShift: safe_lshift,
    ast.Mod: safe_mod,
}
"""simpleeval's operators with size-checked ``+ * ** << %``."""

# ------------------------------------------------------------------------ methods

# Methods that change a value in place: expressions must not alter step outputs,
# inputs or ``state`` behind the engine's back (use ``set`` steps for state).
_MUTATORS: Final = frozenset(
    {
        "append",
        "extend",
        "insert",
        "remove",
        "pop",
        "popitem",
        "clear",
        "sort",
        "reverse",
        "update",
        "setdefault",
        "add",
        "discard",
        "intersection_update",
        "difference_update",
        "symmetric_difference_update",
    }
)
_BUILTIN_METHODS: Final = (types.BuiltinMethodType, types.MethodDescriptorType)


def _width_arg(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = args[0] if args else kwargs.get("width", 0)
    if isinstance(width, int):
        check_length(width)


def _replace_arg(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if len(args) < 2 or not isinstance(self, _TEXT):
        return
    old, new = args[0], args[1]
    count = args[2] if len(args) > 2 else kwargs.get("count", -1)
    hits = len(self) + 1 if not old else self.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    check_length(len(self) + hits * max(len(new) - len(old), 0))


def _expandtabs_arg(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    size = args[0] if args else kwargs.get("tabsize", 8)
    if isinstance(self, _TEXT) and isinstance(size, int):
        tab = "\t" if isinstance(self, str) else b"\t"
        check_length(len(self) + self.count(tab) * max(size, 0))  # type: ignore[arg-type]


def _join_arg(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    items = list(args[0]) if args else []
    if len(items) > MAX_COLLECTION_SIZE:
        raise LimitExceeded(f"cannot join more than {MAX_COLLECTION_SIZE:,} items")
    total = len(self) * max(len(items) - 1, 0)
    for item in items:
        total += len(item) if isinstance(item, _TEXT) else 0
    check_length(total)
    return (items, *args[1:])


def _translate_arg(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    table = args[0] if args else None
    if isinstance(self, str) and isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        check_length(len(self) * max(longest, 1))


def _to_bytes_arg(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    length = args[0] if args else kwargs.get("length", 1)
    if isinstance(length, int):
        check_length(length, "bytes value")


_ArgCheck = Callable[[Any, tuple[Any, ...], dict[str, Any]], "tuple[Any, ...] | None"]
_METHOD_CHECKS: Final[dict[str, _ArgCheck]] = {
    "center": _width_arg,
    "ljust": _width_arg,
    "rjust": _width_arg,
    "zfill": _width_arg,
    "replace": _replace_arg,
    "expandtabs": _expandtabs_arg,
    "join": _join_arg,
    "translate": _translate_arg,
    "to_bytes": _to_bytes_arg,
}


def _checked_bound(check: _ArgCheck, method: Any, *args: Any, **kwargs: Any) -> Any:
    current_budget().check_time()
    new_args = check(method.__self__, args, kwargs)
    return method(*(args if new_args is None else new_args), **kwargs)


def _checked_unbound(check: _ArgCheck, method: Any, *args: Any, **kwargs: Any) -> Any:
    if args:
        new_args = check(args[0], args[1:], kwargs)
        if new_args is not None:
            args = (args[0], *new_args)
    return method(*args, **kwargs)


def check_method_args(
    name: str, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
) -> None:
    """Run the size check of str/bytes method ``name`` on a call, without calling it."""
    check = _METHOD_CHECKS.get(name)
    if check is not None:
        check(obj, args, kwargs or {})


def guard_callable(item: Any) -> Any:
    """Refuse in-place mutators; wrap size-amplifying str/bytes/int methods with checks."""
    if not isinstance(item, _BUILTIN_METHODS):
        return item
    name = item.__name__
    if name in _MUTATORS:
        owner = getattr(item, "__self__", None)
        owner_type = owner if isinstance(owner, type) else type(owner)
        if isinstance(item, types.MethodDescriptorType) or owner_type in _MUTABLE:
            raise LimitExceeded(
                f"'.{name}()' changes a value in place, which expressions may not do: "
                "build a new value instead (e.g. a + [x], {**d, 'k': v}, sorted(xs))"
            )
    check = _METHOD_CHECKS.get(name)
    if check is None:
        return item
    if isinstance(item, types.MethodDescriptorType):
        return functools.partial(_checked_unbound, check, item)
    return functools.partial(_checked_bound, check, item)


_MUTABLE: Final = (list, dict, set, bytearray)
