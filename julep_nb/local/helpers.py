"""The functions and stdlib stand-ins that ``$ `` expressions and templates may use.

Julep's list (``evaluator.py`` in the agents-api), with every helper that can
amplify its input replaced by a size-checked version; see docs/local-server.md
for what differs from Julep.
"""

from __future__ import annotations

import base64
import builtins
import functools
import json
import math
import random
import re
import statistics
import string
import time
import types
import urllib.parse
from collections.abc import Callable, Iterable
from datetime import date as _date
from datetime import datetime as _datetime
from datetime import time as _time
from datetime import timedelta, timezone
from typing import Any, Final

import regex
import yaml

from julep_nb.local.sandbox import (
    MAX_COLLECTION_SIZE,
    MAX_ROUND_DIGITS,
    MAX_STRING_LENGTH,
    LimitExceeded,
    check_length,
    current_budget,
    deep_size,
)
from julep_nb.local.text_helpers import CSV, TEXT_FUNCTIONS

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MODULES",
    "extract_json",
    "safe_json_dumps",
    "safe_json_loads",
    "safe_range",
    "safe_reduce",
    "safe_round",
    "safe_sorted",
    "safe_sum",
    "safe_yaml_dump",
    "safe_yaml_load",
]

_TEXT: Final = (str, bytes, bytearray)


def _check_text(text: Any, what: str = "input") -> None:
    if isinstance(text, _TEXT) and len(text) > MAX_STRING_LENGTH:
        raise LimitExceeded(f"{what} of {len(text):,} characters is over {MAX_STRING_LENGTH:,}")


def safe_range(*args: int) -> range:
    """``range`` of at most ``MAX_COLLECTION_SIZE`` numbers."""
    result = range(*args)
    if len(result) > MAX_COLLECTION_SIZE:
        raise LimitExceeded(f"range of {len(result):,} numbers (max {MAX_COLLECTION_SIZE:,})")
    return result


def safe_round(number: Any, ndigits: int | None = None) -> Any:
    """``round`` with ``ndigits`` bounded (``round(5, -10**8)`` would never return)."""
    if ndigits is not None and abs(ndigits) > MAX_ROUND_DIGITS:
        raise LimitExceeded(f"round() to {ndigits} digits (max {MAX_ROUND_DIGITS})")
    return round(number) if ndigits is None else round(number, ndigits)


def safe_sum(items: Iterable[Any], start: Any = 0) -> Any:
    """``sum`` of numbers, or linear-time concatenation of lists/tuples."""
    if not isinstance(start, (list, tuple)):
        return sum(items, start)
    budget = current_budget()
    result = list(start)
    for item in items:
        result.extend(item)
        if len(result) > MAX_COLLECTION_SIZE:
            raise LimitExceeded(f"sum() built more than {MAX_COLLECTION_SIZE:,} elements")
        budget.check_time()
    return tuple(result) if isinstance(start, tuple) else result


_LAZY_WRAPPERS: Final = frozenset({zip, map, enumerate, filter, reversed, iter})


def safe_reduce(function: Callable[..., Any], items: Iterable[Any], *initial: Any) -> Any:
    """``functools.reduce`` that refuses to nest lazy iterators (a C-stack bomb)."""
    if function in _LAZY_WRAPPERS:
        raise LimitExceeded(f"reduce() with {function.__name__} is not allowed")
    budget = current_budget()

    def step(acc: Any, item: Any) -> Any:
        budget.check_time()
        return function(acc, item)

    return functools.reduce(step, items, *initial)


def safe_sorted(items: Iterable[Any], *, key: Any = None, reverse: bool = False) -> list[Any]:
    """``sorted`` (a replacement for the in-place ``list.sort``) that checks the deadline."""
    values = list(items)
    if len(values) > MAX_COLLECTION_SIZE:
        raise LimitExceeded(f"cannot sort more than {MAX_COLLECTION_SIZE:,} items")
    if key is None:
        return sorted(values, reverse=reverse)
    budget = current_budget()

    def checked_key(value: Any) -> Any:
        budget.check_time()
        return key(value)

    return sorted(values, key=checked_key, reverse=reverse)


def safe_json_loads(text: str | bytes) -> Any:
    """``json.loads`` of at most ``MAX_STRING_LENGTH`` characters."""
    _check_text(text, "JSON text")
    return json.loads(text)


def safe_json_dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` with only data options (bounded ``indent``/``separators``)."""
    allowed = {"indent", "separators", "sort_keys", "ensure_ascii"}
    if set(options) - allowed:
        raise LimitExceeded(f"json.dumps() options allowed: {', '.join(sorted(allowed))}")
    indent = options.get("indent")
    if isinstance(indent, int) and indent > 16 or isinstance(indent, str) and len(indent) > 16:
        raise LimitExceeded("json.dumps() indent must be at most 16")
    separators = options.get("separators")
    if separators is not None and sum(len(s) for s in separators) > 16:
        raise LimitExceeded("json.dumps() separators must be short")
    if deep_size(value, MAX_STRING_LENGTH) > MAX_STRING_LENGTH:
        raise LimitExceeded(f"value too large to serialise (max {MAX_STRING_LENGTH:,} chars)")
    return json.dumps(value, default=str, **options)


def safe_yaml_load(text: str) -> Any:
    """``yaml.safe_load`` of at most ``MAX_STRING_LENGTH`` characters."""
    _check_text(text, "YAML text")
    return yaml.safe_load(text)


def safe_yaml_dump(value: Any, **options: Any) -> str:
    """``yaml.safe_dump`` with only layout options."""
    allowed = {"indent", "width", "sort_keys", "default_flow_style", "allow_unicode"}
    if set(options) - allowed:
        raise LimitExceeded(f"yaml.dump() options allowed: {', '.join(sorted(allowed))}")
    if deep_size(value, MAX_STRING_LENGTH) > MAX_STRING_LENGTH:
        raise LimitExceeded(f"value too large to serialise (max {MAX_STRING_LENGTH:,} chars)")
    options.setdefault("sort_keys", False)
    options.setdefault("allow_unicode", True)
    return yaml.safe_dump(value, **options)


def extract_json(text: str) -> Any:
    """Parse JSON from text, taking the first fenced code block if there is one."""
    _check_text(text, "text")
    match = re.search(r"```(?:json)?\s*(.*?)```", text, flags=re.DOTALL)
    body = match.group(1) if match else text
    try:
        return json.loads(body.strip(), strict=False)
    except json.JSONDecodeError as exc:
        raise ValueError(f"no valid JSON found ({exc}) in {body[:100]!r}") from exc


# ------------------------------------------------------------------------ regex

# The `regex` engine (not `re`) because it can stop a catastrophic backtrack
# after a timeout; Julep uses re2 for the same reason.


def _regex(name: str) -> Callable[..., Any]:
    function = getattr(regex, name)

    @functools.wraps(function)
    def call(pattern: Any, text: Any, *args: Any, **kwargs: Any) -> Any:
        _check_text(pattern, "pattern")
        _check_text(text, "text")
        kwargs["timeout"] = current_budget().time_left()
        try:
            return function(pattern, text, *args, **kwargs)
        except TimeoutError as exc:
            raise LimitExceeded(f"regular expression {pattern!r} took too long") from exc

    return call


def _regex_sub(name: str) -> Callable[..., Any]:
    function = getattr(regex, name)

    @functools.wraps(function)
    def call(pattern: Any, repl: Any, text: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(repl, (str, bytes)):
            raise LimitExceeded(f"re.{name}() replacement must be a string")
        _check_text(text, "text")
        timeout = current_budget().time_left()
        try:
            hits = sum(1 for _ in regex.finditer(pattern, text, timeout=timeout))
            # A group reference may copy up to the whole text into each replacement.
            refs = repl.count("\\" if isinstance(repl, str) else b"\\")  # type: ignore[arg-type]
            check_length(len(text) + hits * (len(repl) + refs * len(text)))
            kwargs["timeout"] = current_budget().time_left()
            return function(pattern, repl, text, *args, **kwargs)
        except TimeoutError as exc:
            raise LimitExceeded(f"regular expression {pattern!r} took too long") from exc

    return call


def _namespace(name: str, **members: Any) -> types.SimpleNamespace:
    space = types.SimpleNamespace(**members)
    space.__doc__ = f"julep_nb's safe subset of {name}"
    return space


_RE = _namespace(
    "re",
    search=_regex("search"),
    match=_regex("match"),
    fullmatch=_regex("fullmatch"),
    findall=_regex("findall"),
    finditer=_regex("finditer"),
    split=_regex("split"),
    sub=_regex_sub("sub"),
    subn=_regex_sub("subn"),
    escape=regex.escape,
    IGNORECASE=regex.IGNORECASE,
    I=regex.IGNORECASE,
    MULTILINE=regex.MULTILINE,
    M=regex.MULTILINE,
    DOTALL=regex.DOTALL,
    S=regex.DOTALL,
)


def _quantiles(data: Iterable[float], *, n: int = 4, method: Any = "exclusive") -> list[float]:
    if n > MAX_COLLECTION_SIZE:
        raise LimitExceeded(f"quantiles(n={n}) is over {MAX_COLLECTION_SIZE:,}")
    return statistics.quantiles(data, n=n, method=method)


def _random_sample(population: Any, k: int) -> list[Any]:
    if k > MAX_COLLECTION_SIZE:
        raise LimitExceeded(f"sample of {k:,} items (max {MAX_COLLECTION_SIZE:,})")
    return random.sample(list(population), k)


def _b64encode(text: str) -> str:
    _check_text(text)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _b64decode(text: str) -> str:
    _check_text(text)
    return base64.b64decode(text).decode("utf-8")


class _DateTime(_datetime):
    """``datetime.datetime``: the real class, plus Julep's ``datetime.datetime.now`` layout."""

    # Not ``date``/``time``: they would hide the ``.date()``/``.time()`` methods.
    datetime = _datetime
    timedelta = timedelta


def _pick(module: Any, names: str) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names.split()}


_STRING_NAMES: Final = (
    "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits octdigits punctuation "
    "whitespace printable"
)
_MATH_NAMES: Final = (
    "sqrt exp ceil floor isinf isnan isfinite log log10 log2 pow sin cos tan asin acos atan "
    "atan2 fabs fsum hypot degrees radians pi e inf nan"
)
_STATISTICS_NAMES: Final = (
    "mean fmean geometric_mean harmonic_mean median median_low median_high mode multimode "
    "stdev pstdev variance pvariance"
)
_URLLIB_NAMES: Final = (
    "urlparse urlsplit urlunparse urlencode quote quote_plus unquote unquote_plus parse_qs "
    "parse_qsl urljoin"
)

MODULES: Final[dict[str, Any]] = {
    "re": _RE,
    "json": _namespace("json", loads=safe_json_loads, dumps=safe_json_dumps),
    "yaml": _namespace(
        "yaml",
        load=safe_yaml_load,
        safe_load=safe_yaml_load,
        dump=safe_yaml_dump,
        safe_dump=safe_yaml_dump,
    ),
    "string": _namespace("string", **_pick(string, _STRING_NAMES)),
    "datetime": _namespace(
        "datetime",
        datetime=_DateTime,
        date=_date,
        time=_time,
        timedelta=timedelta,
        timezone=timezone,
        UTC=timezone.utc,
    ),
    "math": _namespace("math", **_pick(math, _MATH_NAMES)),
    "statistics": _namespace(
        "statistics", quantiles=_quantiles, **_pick(statistics, _STATISTICS_NAMES)
    ),
    "base64": _namespace("base64", b64encode=_b64encode, b64decode=_b64decode),
    "urllib": _namespace(
        "urllib", parse=_namespace("urllib.parse", **_pick(urllib.parse, _URLLIB_NAMES))
    ),
    "random": _namespace(
        "random",
        choice=random.choice,
        sample=_random_sample,
        randint=random.randint,
        random=random.random,
        uniform=random.uniform,
    ),
    "time": _namespace("time", **_pick(time, "time strftime strptime")),
    "csv": CSV,
}
"""Safe stand-ins for the stdlib modules Julep exposes to expressions."""

FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    **_pick(builtins, "abs all any bool dict enumerate float int len list map max min set str"),
    **_pick(builtins, "tuple zip"),
    "round": safe_round,
    "sorted": safe_sorted,
    "sum": safe_sum,
    "reduce": safe_reduce,
    "range": safe_range,
    "load_json": safe_json_loads,
    "load_yaml": safe_yaml_load,
    "dump_json": safe_json_dumps,
    "dump_yaml": safe_yaml_dump,
    "extract_json": extract_json,
    "search_regex": lambda pattern, text: _RE.search(pattern, text),
    "match_regex": lambda pattern, text: bool(_RE.fullmatch(pattern, text)),
    **TEXT_FUNCTIONS,
}
"""The functions expressions may call (Julep's list, with size-checked versions)."""

CONSTANTS: Final[dict[str, Any]] = {"NEWLINE": "\n", "true": True, "false": False, "null": None}
"""Julep's constants (simpleeval adds ``True``/``False``/``None``)."""
