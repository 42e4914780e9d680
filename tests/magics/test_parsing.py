"""Cell bodies and magic lines: what a user writes, and the errors they see."""

from __future__ import annotations

import pytest

from julep_nb.magics import arguments, parsing
from julep_nb.magics.arguments import HelpRequested
from julep_nb.magics.parsing import parse_body, split_args
from julep_nb.sources.julep.errors import InputError

# ---------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("   \n\n", {}),
        ("# just a comment\n", {}),
        (None, {}),
        ("topic: otters\ncount: 3\n", {"topic": "otters", "count": 3}),
        ('{"topic": "otters", "tags": [1, 2]}', {"topic": "otters", "tags": [1, 2]}),
        ("nested:\n  list: [a, b]\n  flag: true\n", {"nested": {"list": ["a", "b"], "flag": True}}),
    ],
)
def test_body_yaml_or_json(text: str | None, expected: dict) -> None:
    assert parse_body(text) == expected


def test_dates_stay_strings_so_the_body_is_json() -> None:
    assert parse_body("when: 2024-01-01\nat: 2024-01-01T10:00:00Z") == {
        "when": "2024-01-01",
        "at": "2024-01-01T10:00:00Z",
    }


def test_yaml_error_names_line_and_column_and_shows_the_line() -> None:
    with pytest.raises(InputError) as info:
        parse_body("topic: otters\ncount: 3\n  bad: indent\n")
    message = str(info.value)
    assert "line 3, column 6" in message
    assert "  bad: indent" in message
    assert "Nothing was sent" in message


def test_json_error_names_line_and_column() -> None:
    with pytest.raises(InputError) as info:
        parse_body('{\n  "topic": "otters",\n  "count": 3,,\n}')
    message = str(info.value)
    assert "as JSON" in message
    assert "line 3, column 14" in message


def test_text_that_starts_like_json_is_strict_json() -> None:
    # YAML would read this as {"name": None} and send it.
    with pytest.raises(InputError, match="as JSON: line 1, column 10"):
        parse_body('{"name": }')
    with pytest.raises(InputError, match="as JSON"):
        parse_body("{topic: otters}")


def test_unclosed_flow_is_an_error_with_position() -> None:
    with pytest.raises(InputError, match=r"line 2, column \d+"):
        parse_body("a: 1\nb: [1, 2\n")


@pytest.mark.parametrize(
    ("text", "kind"), [("- 1\n- 2", "list"), ("just words", "string"), ("42", "int")]
)
def test_body_must_be_a_mapping(text: str, kind: str) -> None:
    with pytest.raises(InputError, match=f"is a {kind}, but it must be a mapping"):
        parse_body(text)


def test_aliases_are_refused_with_their_position() -> None:
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    with pytest.raises(InputError, match=r"line 2, column \d+: the alias \*a is not allowed"):
        parse_body(bomb)


def test_oversized_body_is_refused() -> None:
    with pytest.raises(InputError, match="limit is"):
        parse_body("x: " + "a" * (parsing.MAX_BODY_CHARS + 1))


def test_deep_nesting_is_an_input_error_not_a_crash() -> None:
    with pytest.raises(InputError, match="nested too deeply"):
        parse_body("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        parse_body("a: " + "[" * 100_000 + "]" * 100_000)


# ---------------------------------------------------------------------- lines


def test_split_keeps_json_values_whole_without_quoting() -> None:
    line = 'run t1 --input {"topic": "sea otters", "n": [1, 2]} -o h'
    assert split_args(line) == [
        "run",
        "t1",
        "--input",
        '{"topic": "sea otters", "n": [1, 2]}',
        "-o",
        "h",
    ]


def test_split_handles_quotes_and_option_equals_json() -> None:
    assert split_args("""cancel e1 --reason 'too slow' --x="a b" --metadata={"k": "}"}""") == [
        "cancel",
        "e1",
        "--reason",
        "too slow",
        "--x=a b",
        '--metadata={"k": "}"}',
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('run t --input {"a": 1', r"Unbalanced '\{' at column 15"),
        ("cancel e --reason 'oops", "Unclosed ' quote at column 19"),
    ],
)
def test_split_errors_name_the_column(line: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        split_args(line)


def test_run_parser_reads_every_option() -> None:
    args = arguments.run_parser().parse(
        split_args('t1 -o h --wait --metadata {"a": 1} --panel html --input-var data')
    )
    assert (args.task_id, args.out, args.wait, args.panel, args.input_var) == (
        "t1",
        "h",
        True,
        "html",
        "data",
    )
    assert parsing.parse_mapping_option(args.metadata, option="--metadata") == {"a": 1}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: TASK_ID"),
        (["t", "--panel", "fancy"], "invalid panel mode 'fancy'"),
        (["t", "-o", "not-a-name"], "not a valid Python variable name"),
        (["t", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_argument_errors_are_input_errors_with_usage(argv: list[str], message: str) -> None:
    with pytest.raises(InputError) as info:
        arguments.run_parser().parse(argv)
    assert message in str(info.value)
    assert "usage: %julep_exec run" in str(info.value)


def test_help_is_returned_not_exited() -> None:
    with pytest.raises(HelpRequested) as info:
        arguments.cancel_parser().parse(["-h"])
    assert "--reason" in str(info.value)


def test_mapping_option_must_be_a_mapping() -> None:
    with pytest.raises(InputError, match="value of --input is a list"):
        parsing.parse_mapping_option("[1, 2]", option="--input")


def test_assignment() -> None:
    assert arguments.parse_assignment("panel = html") == ("panel", "html")
    with pytest.raises(InputError, match="Expected NAME=VALUE"):
        arguments.parse_assignment("panel")
