"""Python 3.12's f-string grammar (PEP 701) on every supported Python, and its values."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from julep_nb.local.errors import ExpressionError
from julep_nb.local.expressions import compile_check, evaluate
from julep_nb.local.fstrings import parse_expression

NAMES: dict[str, Any] = {
    "_": {"name": "Ada", "xs": ["a", "b"], "n": 3.14159, "w": 8},
    "agent": {"name": "Helper", "about": "answers"},
}


@pytest.mark.parametrize(
    ("source", "same_as"),
    [
        # PEP 701 spelling → the same tree as an equivalent pre-3.12 spelling
        ("f'{_['name']}'", "f\"{_['name']}\""),
        ("f'''{agent['name']} / {_[\"xs\"][0]}'''", "f'''{agent[\"name\"]} / {_['xs'][0]}'''"),
        ("f'{_['n']:.{_['w']}f}'", "f\"{_['n']:.{_['w']}f}\""),
        ("f'{_['name']!r:>10}'", "f\"{_['name']!r:>10}\""),
        ("f'{_['name']=}'", "f\"{_['name']=}\""),
        ("'a' f'{_['name']}' \"b\"", "'a' f\"{_['name']}\" \"b\""),
        ("[f'{x['k']}' for x in _]", "[f\"{x['k']}\" for x in _]"),
        ("rf'\\d{_['w']}'", "rf\"\\d{_['w']}\""),
        ("f'{{literal}} {_['w']}'", "f\"{{literal}} {_['w']}\""),
        ("f'tab\\t{_['w']}\\N{BULLET}'", "f\"tab\\t{_['w']}\\N{BULLET}\""),
    ],
)
def test_pep701_sources_parse_to_the_tree_of_an_equivalent_spelling(
    source: str, same_as: str
) -> None:
    expected = ast.dump(ast.parse(same_as, mode="eval").body)
    assert ast.dump(parse_expression(source)) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$ f'''You are {agent['name']}. {agent['about']}'''", "You are Helper. answers"),
        ("$ f'{'\\n'.join(_['xs'])}'", "a\nb"),
        ("$ f'{', '.join(x.upper() for x in _['xs'])}!'", "A, B!"),
        ("$ f'{f'{_['name']}'}'", "Ada"),
        ("$ f'{_['n']:.{2}f}'", "3.14"),
        ("$ f'{_['name']=}'", "_['name']='Ada'"),
        (
            "$ f'''{_['name']  # a comment inside a field\n}'''",
            "Ada",
        ),
    ],
)
def test_pep701_expressions_evaluate_as_on_python_312(expr: str, expected: str) -> None:
    assert evaluate(expr, NAMES) == expected
    compile_check(expr)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("$ f'{}'", "expression required"),
        ("$ f'{_['name']'", "unterminated"),
        ("$ f'}'", "single '}'"),
        ("$ f'{_!z}'", "conversion"),
        ("$ f'{_['name']", "expecting '}'"),
    ],
)
def test_broken_fstrings_are_syntax_errors_naming_the_expression(expr: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_check(expr)
    assert "syntax error" in str(info.value) and fragment in str(info.value)
    assert info.value.expression == expr


def test_names_inside_pep701_fields_are_checked_at_creation() -> None:
    with pytest.raises(ExpressionError, match="name 'agnet' is not defined"):
        compile_check("$ f'{agnet['name']}'")
    with pytest.raises(ExpressionError, match="'__class__'"):
        compile_check("$ f'{_['name'].__class__}'")
