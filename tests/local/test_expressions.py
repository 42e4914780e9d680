"""``$ `` expressions and templates: Julep's names, helpers, rules and error messages."""

from __future__ import annotations

from typing import Any

import pytest

from julep_nb.local.errors import ExpressionError
from julep_nb.local.expressions import (
    compile_check,
    evaluate,
    evaluate_value,
    is_expression,
    is_template,
    render,
)

NAMES: dict[str, Any] = {
    "_": {"topic": "AI", "xs": [3, 1, 2], "text": "a,b,c"},
    "inputs": {0: {"topic": "AI"}, 1: {"n": 1}},
    "outputs": {0: {"n": 1}},
    "steps": {0: {"input": {"topic": "AI"}, "output": {"n": 1}}, "first": {"output": {"n": 1}}},
    "state": {"user": "ada"},
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$ _.topic", "AI"),
        ("$ _['topic'].lower()", "ai"),
        ("$ inputs[0].topic", "AI"),
        ("$ outputs[0].n + 1", 2),
        ("$ steps[0].input.topic + steps[0].output.n * 'x'", "AIx"),
        ("$ steps['first'].output.n", 1),
        ("$ state.user.title()", "Ada"),
        ("$ sorted(_.xs)", [1, 2, 3]),
        ("$ sum(x * 2 for x in _.xs)", 12),
        ("$ {k: len(k) for k in ['ab', 'c']}", {"ab": 2, "c": 1}),
        ("$ f'{_.topic:>4}|{len(_.xs)}'", "  AI|3"),
        ("$ _.text.split(',')", ["a", "b", "c"]),
        ("$ json.loads('{\"a\": [1, null]}')", {"a": [1, None]}),
        ("$ json.dumps({'a': true}, sort_keys=true)", '{"a": true}'),
        ("$ yaml.safe_load('a: 1')", {"a": 1}),
        ("$ re.findall(r'\\d', 'a1b22')", ["1", "2", "2"]),
        ("$ bool(match_regex('[a-z]+', 'abc'))", True),
        ("$ math.sqrt(16) + math.floor(1.5)", 5.0),
        ("$ statistics.mean(_.xs)", 2),
        ("$ base64.b64decode(base64.b64encode('hé'))", "hé"),
        ("$ urllib.parse.quote('a b')", "a%20b"),
        ("$ string.digits[:3]", "012"),
        ("$ datetime.datetime(2024, 1, 2).isoformat()", "2024-01-02T00:00:00"),
        ("$ (datetime.datetime(2024, 1, 2) + datetime.timedelta(days=1)).day", 3),
        ("$ extract_json('text ```json\\n{\"k\": 1}\\n``` more')", {"k": 1}),
        ("$ reduce(max, _.xs)", 3),
        ("$ list(range(3)) + [NEWLINE]", [0, 1, 2, "\n"]),
        ("$ {**state, 'x': null}", {"user": "ada", "x": None}),
        ("  $ 1 + 1", 2),
    ],
)
def test_expressions_see_julep_names_and_helpers(expr: str, expected: Any) -> None:
    assert evaluate(expr, NAMES) == expected


def test_dict_keys_win_over_dict_methods() -> None:
    names = {**NAMES, "_": {"items": [1, 2], "keys": "k"}}
    assert evaluate("$ _.items", names) == [1, 2]
    assert evaluate("$ _.keys", names) == "k"
    assert render("{{ _.items | length }}", names) == "2"
    assert evaluate("$ sorted(state.keys())", NAMES) == ["user"]


def test_datetime_now_is_aware_and_real() -> None:
    year = evaluate("$ datetime.datetime.now(datetime.timezone.utc).year", NAMES)
    assert isinstance(year, int) and year >= 2024


def test_evaluate_value_walks_dicts_and_lists_and_keeps_literals() -> None:
    value = {
        "count": "$ len(_.xs)",
        "items": ["$ _.xs[0]", "plain", 7, None, True],
        "msg": "Hello {{ state.user }}: {{ _.xs|length }} items",
        "nested": {"deep": "$ steps[0].output"},
    }
    assert evaluate_value(value, NAMES) == {
        "count": 3,
        "items": [3, "plain", 7, None, True],
        "msg": "Hello ada: 3 items",
        "nested": {"deep": {"n": 1}},
    }


def test_strings_without_a_dollar_follow_julep_backwards_compatibility() -> None:
    # Julep's rule: shorthands are expressions, {{ }} and plain text are f-strings.
    assert evaluate_value("_", NAMES) == NAMES["_"]
    assert evaluate_value("_.topic", NAMES) == "AI"
    assert evaluate_value('_["xs"]', NAMES) == [3, 1, 2]
    assert evaluate_value("inputs[0]['topic']", NAMES) == "AI"
    assert evaluate_value("[1, 2]", NAMES) == [1, 2]
    assert evaluate_value("Topic: {{_.topic}}!", NAMES) == "Topic: AI!"
    assert evaluate_value("Topic: {_.topic}", NAMES) == "Topic: AI"
    assert evaluate_value("  plain text, $5 and $x  ", NAMES) == "plain text, $5 and $x"
    assert evaluate_value("tab\\tstop", NAMES) == "tab\tstop"


def test_plain_text_with_a_field_julep_cannot_fill_fails_at_run_time() -> None:
    with pytest.raises(ExpressionError, match="name 'price' is not defined"):
        evaluate_value("cost: {price}", NAMES)
    compile_check("cost: {price}")  # Julep does not check plain text before it runs


def test_backwards_compatibility_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JULEP_NB_BACKWARDS_COMPATIBILITY", "0")
    assert evaluate_value("_.topic", NAMES) == "_.topic"
    assert evaluate_value("$ _.topic", NAMES) == "AI"


def test_template_if_and_for() -> None:
    text = "{% for x in _.xs %}{{ x }}{% if not loop.last %}, {% endif %}{% endfor %}"
    assert render(text, NAMES) == "3, 1, 2"
    assert render("{{ steps[0].input.topic | lower }}", NAMES) == "ai"


def test_prefix_detection() -> None:
    assert is_expression("$ 1") and is_expression("  $ 1") and not is_expression("$1")
    assert is_template("a {{ b }}") and is_template("{% if x %}{% endif %}")
    assert not is_template("{a}") and not is_expression(3)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("$ 1 +", "syntax error"),
        ("$ ", "empty expression"),
        ("$ (lambda x: x)(1)", "lambda"),
        ("$ {x for x in _}", "set comprehensions"),
        ("$ (y := 1)", "walrus"),
        ("$ _.__class__", "'__class__'"),
        ("$ nope + 1", "name 'nope' is not defined"),
        ("$ results + [_]", "name 'results' is not defined"),
        ("{{ 1 + }}", "template syntax error"),
        ("{% set x = 1 %}", "'assign'"),
        ("{{ x | nosuchfilter }}", "nosuchfilter"),
    ],
)
def test_compile_check_rejects_bad_syntax_naming_the_expression(expr: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_check(expr)
    assert fragment in str(info.value)
    assert info.value.expression == expr


def test_compile_check_accepts_valid_expressions_and_literals() -> None:
    for ok in [
        "$ [x for x in _.xs if x > 1]",
        "$ {k: v for k, v in _.items()}",
        "$ json.dumps(state) + str(len(steps)) + NEWLINE",
        "plain",
        "{{ _.a }}",
        "$ f'{_}'",
    ]:
        compile_check(ok)
    compile_check("$ results + [_]", extra_names=["results"])


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("$ nope + 1", "name 'nope' is not defined"),
        ("$ _.missing", "no attribute or key 'missing'"),
        ("$ _['missing']", "no key 'missing'"),
        ("$ 1 / 0", "ZeroDivisionError"),
        ("$ print(1)", "function 'print' is not available"),
        ("{{ _.missing }}", "missing"),
    ],
)
def test_runtime_errors_are_expression_errors_naming_the_expression(
    expr: str, fragment: str
) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_value({"k": expr}, NAMES)
    message = str(info.value)
    assert fragment in message
    assert expr.strip() in message
    assert info.value.expression == expr


def test_expressions_cannot_mutate_step_data_or_state() -> None:
    names = {"_": [1], "state": {"a": 1}, "inputs": {}, "outputs": {}, "steps": {}}
    for expr in ["$ _.append(2)", "$ state.update({'b': 2})", "$ state.pop('a')"]:
        with pytest.raises(ExpressionError, match="changes a value in place"):
            evaluate(expr, names)
    assert names["_"] == [1] and names["state"] == {"a": 1}


def test_the_backwards_compatibility_switch_can_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine reads the switch once per execution and passes it on.
    monkeypatch.setenv("JULEP_NB_BACKWARDS_COMPATIBILITY", "0")
    assert evaluate_value("_.topic", NAMES, compat=True) == "AI"
    monkeypatch.delenv("JULEP_NB_BACKWARDS_COMPATIBILITY")
    assert evaluate_value({"t": ["_.topic"]}, NAMES, compat=False) == {"t": ["_.topic"]}
