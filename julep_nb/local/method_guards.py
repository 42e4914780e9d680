"""Guards on the methods expressions and templates may call.

In-place mutators (``.append``, ``.update``…) are refused: expressions must not
alter step outputs, inputs or ``state`` behind the engine's back. str/bytes/int
methods that can amplify their input (``ljust``, ``replace``, ``join``…) are
wrapped with a size check that runs *before* the call (see ``sandbox.py``).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any, Final

from julep_nb.local.sandbox import (
    MAX_COLLECTION_SIZE,
    TEXT_TYPES,
    LimitExceeded,
    check_length,
    current_budget,
)

__all__ = ["check_method_args", "guard_callable"]


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
    if len(args) < 2 or not isinstance(self, TEXT_TYPES):
        return
    old, new = args[0], args[1]
    count = args[2] if len(args) > 2 else kwargs.get("count", -1)
    hits = len(self) + 1 if not old else self.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    check_length(len(self) + hits * max(len(new) - len(old), 0))


def _expandtabs_arg(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    size = args[0] if args else kwargs.get("tabsize", 8)
    if isinstance(self, TEXT_TYPES) and isinstance(size, int):
        tab = "\t" if isinstance(self, str) else b"\t"
        check_length(len(self) + self.count(tab) * max(size, 0))  # type: ignore[arg-type]


def _join_arg(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    items = list(args[0]) if args else []
    if len(items) > MAX_COLLECTION_SIZE:
        raise LimitExceeded(f"cannot join more than {MAX_COLLECTION_SIZE:,} items")
    total = len(self) * max(len(items) - 1, 0)
    for item in items:
        total += len(item) if isinstance(item, TEXT_TYPES) else 0
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
