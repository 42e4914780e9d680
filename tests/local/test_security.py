"""Trying to break out of, or bring down, the expression and template sandboxes.

Every attack must end in an ``ExpressionError`` (never another exception, a
hang or a huge allocation) within the time limit.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from julep_nb.local.errors import ExpressionError
from julep_nb.local.expressions import compile_check, evaluate, evaluate_value, render
from julep_nb.local.sandbox import MAX_EVAL_SECONDS

# Generous slack for a loaded CI machine; a real hang would take minutes.
WITHIN = MAX_EVAL_SECONDS + 4.5
BIG = "x" * 900_000
NAMES: dict[str, Any] = {
    "_": {"big": BIG, "xs": list(range(1000))},
    "inputs": {},
    "outputs": {},
    "steps": {},
    "state": {"secret": "kept"},
}


def _must_fail(run: Any, source: str) -> ExpressionError:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as info:
        run(source, NAMES)
    assert time.monotonic() - started < WITHIN, f"{source!r} was not stopped in time"
    return info.value


ESCAPES = [
    "__import__('os').system('echo pwned')",
    "().__class__.__mro__[1].__subclasses__()",
    "_.__class__.__init__.__globals__",
    "json.loads.__globals__",
    "datetime.datetime.now().__class__",
    "str.mro()",
    "'{0.__class__}'.format(1)",
    "'{x}'.format_map({'x': 1})",
    "getattr(_, 'big')",
    "type(_)",
    "eval('1')",
    "exec('x = 1')",
    "open('/etc/passwd').read()",
    "compile('1', 'f', 'eval')",
    "globals()",
    "(lambda: 1)()",
    "[c for c in ().__class__.__bases__]",
    "re.compile('x')",
    "json.__dict__",
]


@pytest.mark.parametrize("attack", ESCAPES)
def test_attribute_and_builtin_escapes_are_refused(attack: str) -> None:
    _must_fail(evaluate, "$ " + attack)


BOMBS = [
    "'a' * 10**9",
    "9**9**9",
    "2**100000",
    "10**4000 * 10**4000 * 10**4000 * 10**4000 * 10**4000 * 10**4000",
    "1 << 10**8",
    "'a' * 10**6 * 10",
    "'x' * 10_000_000",
    "[0] * 10**9",
    "[[0] * 10**6] * 10**6",
    "_.big + _.big",
    "'a'.ljust(10**9)",
    "'a'.center(10**9)",
    "'a'.zfill(10**9)",
    "str.ljust('a', 10**9)",
    "'\\t'.expandtabs(10**9)",
    "_.big.replace('x', 'yy')",
    "','.join([_.big] * 20)",
    "str([_.big] * 100)",
    "'x'.translate({120: 'y' * 10**6}) * 2",
    "(1).to_bytes(10**9, 'big')",
    "f'{1:>1000000000}'",
    "f'{1.0:.1000000000f}'",
    "'%1000000000d' % 1",
    "'%*d' % (10**9, 1)",
    "round(5, -10**8)",
    "range(10**12)",
    "sum([[1]] * 10**6, [])",
    "reduce(zip, [[1]] * 100000)",
    "json.dumps([1], indent=10**9)",
    "statistics.quantiles([1, 2, 3], n=10**9)",
    "dict.fromkeys(range(10**6), _.big)",
    # a YAML "billion laughs": aliases multiply a small document
    "load_yaml('a: &a [' + 'x,' * 100 + ']\\nb: &b [' + '*a,' * 100 + ']\\n'"
    " + 'c: [' + '*b,' * 100 + ']')",
    "re.sub('', 'x' * 1000, _.big)",
    "int('9' * 10000)",
]


@pytest.mark.parametrize("attack", BOMBS)
def test_size_and_power_bombs_are_refused(attack: str) -> None:
    _must_fail(evaluate, "$ " + attack)


LOOPS = [
    "[x for x in range(10**7)]",
    "[x for x in range(10**4) for y in range(10**4)]",
    "[list(range(10**6)) for i in range(100)]",
    "[[0] * 10**6 for i in range(100)]",
    "[_ for i in range(10000)]",
    "re.match('(a|aa)+$', 'a' * 60 + 'b')",
    "search_regex('(x+x+)+y', 'x' * 5000)",
    "sorted(range(10**6), key=str)",
]


@pytest.mark.parametrize("attack", LOOPS)
def test_huge_comprehensions_and_slow_regexes_stop_in_time(attack: str) -> None:
    _must_fail(evaluate, "$ " + attack)


@pytest.mark.parametrize(
    "source",
    [
        "-" * 99_990 + "1",
        "1" + "+1" * 5_000,
        "not " * 5_000 + "x",
        "(" * 300 + "1" + ")" * 300,
        "[" * 150 + "]" * 150,
        "1" + "+1" * 200,  # parses, but nests deeper than MAX_DEPTH
        "x" * 200_000,
    ],
)
def test_deep_recursion_and_huge_sources_are_refused(source: str) -> None:
    _must_fail(evaluate, "$ " + source)


def test_ten_megabyte_values_are_refused_everywhere() -> None:
    _must_fail(evaluate, "$ 'x' * (10 * 1024 * 1024)")
    _must_fail(render, "{{ 'x' * (10 * 1024 * 1024) }}")
    _must_fail(evaluate_value, "$ '" + "x" * 200_000 + "'")
    huge_input = {**NAMES, "_": "y" * 10_000_000}
    with pytest.raises(ExpressionError, match="larger than"):
        evaluate("$ _", huge_input)


def test_one_budget_covers_every_expression_of_a_step() -> None:
    slow = "$ [x for x in range(9000)][:1]"  # tens of milliseconds each
    started = time.monotonic()
    with pytest.raises(ExpressionError, match="longer than"):
        evaluate_value({f"k{i}": slow for i in range(50)}, NAMES)
    assert time.monotonic() - started < WITHIN


TEMPLATE_ATTACKS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ _.__class__.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ 'a' * 10**9 }}",
    "{{ 2 ** 100000 }}",
    "{{ 'a'.ljust(10**9) }}",
    "{{ '%1000000000d' % 1 }}",
    "{{ 'a' | center(10**9) }}",
    "{{ _.big ~ _.big }}",
    "{{ [_.big] * 100 }}",
    "{{ ([_.big] * 5) | join }}",
    "{{ _.big | replace('x', 'yy') }}",
    "{{ 5 | round(-10**8) }}",
    "{{ [1] | tojson(indent=10**9) }}",
    "{{ _.xs.append(1) }}",
    "{{ lipsum(10**6) }}",
    "{{ range(10**9) }}",
    "{% for a in _.xs %}{% for b in _.xs %}{% for c in _.xs %}{% endfor %}{% endfor %}{% endfor %}",
    "{% for a in range(100000) %}{{ _.big }}{% endfor %}",
    "{{ re.match('(a|aa)+$', 'a' * 60 + 'b') }}",
]


@pytest.mark.parametrize("attack", TEMPLATE_ATTACKS)
def test_template_attacks_are_refused(attack: str) -> None:
    _must_fail(render, attack)


@pytest.mark.parametrize(
    "attack",
    [
        "{% set x = 1 %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% include 'other' %}",
        "{% import 'x' as y %}",
        "{% filter upper %}x{% endfilter %}",
        "{{ x | format(1) }}",
        "{{ 'a' | slice(10**9) }}",
    ],
)
def test_template_statements_beyond_if_and_for_are_refused_at_creation(attack: str) -> None:
    with pytest.raises(ExpressionError):
        compile_check(attack)


def test_failed_attacks_leave_the_names_untouched() -> None:
    for attack in ["$ state.update({'secret': 'gone'})", "$ state.clear()", "$ _.xs.pop()"]:
        _must_fail(evaluate, attack)
    assert NAMES["state"] == {"secret": "kept"} and len(NAMES["_"]["xs"]) == 1000


# The names and helpers added for Julep compatibility: its step context, csv, the
# text helpers, Python 3.12 f-strings and the strings Julep reads without a `$ `.
CONTEXT_NAMES: dict[str, Any] = {
    **NAMES,
    "agent": {"id": "a-1", "name": "Quill", "about": "writes"},
    "task": {"name": "t", "workflows": [{"name": "main", "steps": []}]},
    "execution": {"id": "e-1"},
    "secrets": {},
}

NEW_SURFACE = [
    "agent.__class__",
    "agent.name.__class__.__mro__",
    "task.workflows[0].__class__.__subclasses__()",
    "execution['id'].__dict__",
    "csv.reader.__globals__",
    "csv.__dict__",
    "csv.writer('')._writer",
    "csv.writer('')._buffer.write('x')",
    "csv.Dialect.__subclasses__()",
    "csv.excel.__init__",
    "csv.register_dialect('semi', delimiter=';')",
    "csv.field_size_limit(10**9)",
    "csv.unregister_dialect('excel')",
    "csv.writer('').writerows([[_.big]] * 5)",
    "csv.reader(_.big + _.big)",
    "list(csv.DictReader('a\\n' + '1\\n' * 10**6))",
    "chunk_doc(_.big + _.big)",
    "chunk_doc(3)",
    "markdown_to_html('*a' * 300000)",
    "html_to_markdown('<b>' * 300000)",
    "nlp('x')",
    "humanize_text_alpha('x')",
    "f'{agent['name'].__class__}'",
    "f'{'x' * 10**9}'",
    "f'{_['big']:>{10**9}}'",
    "f'{f'{f'{_.__class__}'}'}'",
    "f'{" * 200 + "1" + "}'" * 200,
]


@pytest.mark.parametrize("attack", NEW_SURFACE)
def test_julep_context_helpers_and_fstrings_stay_in_the_sandbox(attack: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError):
        evaluate("$ " + attack, CONTEXT_NAMES)
    assert time.monotonic() - started < WITHIN, f"{attack!r} was not stopped in time"


@pytest.mark.parametrize(
    "text",
    [
        "_.__class__",
        "{{ _.__class__.__init__.__globals__ }}",
        "inputs[0].__class__",
        "Hello {agent.__class__.__mro__}",
        "Hi {'x' * 10**9}",
        "[().__class__.__bases__]",
    ],
)
def test_strings_without_a_dollar_are_sandboxed_too(text: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError):
        evaluate_value(text, CONTEXT_NAMES)
    assert time.monotonic() - started < WITHIN


def test_the_time_limit_counts_the_threads_work_not_the_machines_load() -> None:
    from julep_nb.local.sandbox import STARVED_GRACE, Budget, LimitExceeded

    starved = Budget(0.05)
    time.sleep(0.12)  # the thread got no CPU (a loaded machine): not the evaluation's fault
    starved.check_time()
    assert 0 < starved.time_left() <= 0.05
    with pytest.raises(LimitExceeded, match="longer than 0.05 s"):
        while True:  # working, it is stopped once its own CPU time is spent
            starved.check_time()
    # Starved for good, it is stopped anyway after STARVED_GRACE times its allowance.
    stuck = Budget(0.01)
    time.sleep(0.01 * STARVED_GRACE + 0.02)
    with pytest.raises(LimitExceeded):
        stuck.check_time()


def test_a_starved_step_still_runs_and_a_busy_one_is_stopped() -> None:
    names = {"_": {"x": 2}}
    assert evaluate_value({"y": "$ _.x * 21"}, names, seconds=0.001) == {"y": 42}
    started = time.process_time()
    with pytest.raises(ExpressionError, match="longer than"):
        busy = {f"k{i}": "$ [x for x in range(9000)][:1]" for i in range(50)}  # tens of ms each
        evaluate_value(busy, names, seconds=0.05)
    assert time.process_time() - started < 2
