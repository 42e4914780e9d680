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
import re
import time
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
    "STARVED_GRACE",
    "TEXT_TYPES",
    "Budget",
    "LimitExceeded",
    "check_format_spec",
    "check_length",
    "current_budget",
    "deep_size",
    "use_budget",
]

# ------------------------------------------------------------------------ limits

MAX_EVAL_SECONDS: Final = 0.5
"""Time one evaluation (a step's whole expression tree) may take: CPU time of the thread
evaluating it, and never more than :data:`STARVED_GRACE` times as much wall-clock time."""
STARVED_GRACE: Final = 10
"""How much longer than :data:`MAX_EVAL_SECONDS` in wall-clock time an evaluation whose
thread the machine starves may take before it is stopped anyway."""
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

    __slots__ = ("cpu_start", "deadline", "latest", "remaining", "seconds")

    def __init__(self, seconds: float = MAX_EVAL_SECONDS, allocation: int = MAX_ALLOCATION):
        self.seconds = seconds
        now = time.monotonic()
        self.deadline = now + seconds  # when the thread's CPU time is next looked at
        self.latest = now + seconds * STARVED_GRACE  # the wall-clock limit, whatever the CPU
        self.cpu_start = time.thread_time()
        self.remaining = allocation

    def check_time(self) -> None:
        """``LimitExceeded`` once the evaluation has had its time (see :data:`MAX_EVAL_SECONDS`).

        Past the deadline, the thread's own CPU time decides: a thread the machine starved
        (a loaded host, other threads holding the GIL) gets the rest of its allowance.
        """
        now = time.monotonic()
        if now <= self.deadline:
            return
        left = self.seconds - (time.thread_time() - self.cpu_start)
        if left <= 0 or now >= self.latest:
            raise LimitExceeded(f"evaluation took longer than {self.seconds} s")
        self.deadline = min(now + left, self.latest)

    def time_left(self) -> float:
        """Seconds the evaluation may still run (a timeout for one long C call)."""
        self.check_time()
        return max(self.deadline - time.monotonic(), 0.001)

    def charge(self, value: Any) -> None:
        """Count a newly built value against the allocation allowance."""
        kind = type(value)
        if kind in _CHEAP:
            return
        # Most results are one number or string: sized without deep_size's walk.
        size = (
            _scalar_size(value, kind)
            if kind in _SCALARS
            else deep_size(value, self.remaining, self)
        )
        self.remaining -= size
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


TEXT_TYPES: Final = (str, bytes, bytearray)

# ------------------------------------------------------------------------ operators


def safe_mult(a: Any, b: Any) -> Any:
    """``*`` that refuses huge repetitions and huge integers."""
    if isinstance(b, int) and not isinstance(a, (int, float, complex)):
        a, b = b, a
    if isinstance(a, int) and hasattr(b, "__len__"):
        if isinstance(b, TEXT_TYPES):
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
        if isinstance(a, TEXT_TYPES):
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
    if isinstance(a, TEXT_TYPES):
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
