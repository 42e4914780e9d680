"""Pure parsing for the magics: cell bodies (YAML or JSON) and magic-line arguments.

Nothing here talks to a server or to IPython: every function takes text and returns
data or raises :class:`~julep_nb.api.errors.InputError` with a message that names
the line and column, so that a bad cell sends nothing.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from typing import Any, Final, NoReturn

import yaml

from julep_nb.api.errors import InputError

__all__ = [
    "MAX_BODY_CHARS",
    "PANEL_MODES",
    "ArgParser",
    "HelpRequested",
    "parse_body",
    "parse_mapping_option",
    "split_args",
]

MAX_BODY_CHARS: Final = 1_000_000
PANEL_MODES: Final = ("auto", "widget", "html", "none")

_OPENERS: Final = {"{": "}", "[": "]"}


# ---------------------------------------------------------------------- bodies


class _BodyLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as strings and refuses aliases.

    Dates stay strings because the body is sent as JSON; aliases are refused because
    a few lines of them can expand to gigabytes ("billion laughs").
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"the alias *{event.anchor} is not allowed here (write the value out)",
                event.start_mark,
            )
        return super().compose_node(parent, index)


_BodyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_body(text: str | None, *, what: str = "cell body") -> dict[str, Any]:
    """A cell body as a dict: YAML, or JSON when it starts with ``{``; empty is ``{}``.

    Raises :class:`InputError` naming the line and column of a syntax error, or
    saying what came instead of a mapping.
    """
    if text is None or not text.strip():
        return {}
    if len(text) > MAX_BODY_CHARS:
        raise InputError(
            f"The {what} is {len(text):,} characters; the limit is {MAX_BODY_CHARS:,}. "
            "Pass large inputs with --input-var NAME instead."
        )
    data = _load(text, what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"The {what} is a {_kind(data)}, but it must be a mapping: write `key: value` "
            "lines (YAML) or a JSON object {...}. Nothing was sent."
        )
    return data


def _load(text: str, what: str) -> Any:
    # Text that starts like JSON is JSON, strictly: YAML's flow style would quietly
    # accept broken JSON (`{"a": }` is `{"a": None}` in YAML).
    if text.lstrip()[:1] in _OPENERS:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _json_error(text, exc, what) from None
        except RecursionError:
            raise InputError(f"The {what} is nested too deeply. Nothing was sent.") from None
    try:
        return yaml.load(text, Loader=_BodyLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(text, exc, what) from None
    except yaml.YAMLError as exc:
        raise InputError(f"Cannot parse the {what} as YAML: {exc}. Nothing was sent.") from None
    except RecursionError:
        raise InputError(f"The {what} is nested too deeply. Nothing was sent.") from None


def _yaml_error(text: str, exc: yaml.MarkedYAMLError, what: str) -> InputError:
    problem = exc.problem or exc.context or "invalid YAML"
    lines = text.splitlines() or [""]
    if exc.problem_mark is not None and exc.problem_mark.line < len(lines):
        mark = exc.problem_mark
        return _located(text, what, "YAML", problem, mark.line + 1, mark.column + 1)
    # The problem is at the end of the text ("found '<stream end>'"): point at the
    # bracket that was opened and never closed, else at the end of the last line.
    if exc.context_mark is not None and exc.context_mark.line < len(lines):
        mark = exc.context_mark
        opened = re.sub(r"^while (parsing|scanning) ", "", exc.context or "a bracket")
        problem = f"{opened} opened here is not closed ({problem})"
        return _located(text, what, "YAML", problem, mark.line + 1, mark.column + 1)
    return _located(text, what, "YAML", problem, len(lines), len(lines[-1]) + 1)


def _json_error(text: str, exc: json.JSONDecodeError, what: str) -> InputError:
    return _located(text, what, "JSON", exc.msg, exc.lineno, exc.colno)


def _located(text: str, what: str, fmt: str, problem: str, line: int, column: int) -> InputError:
    lines = text.splitlines() or [""]
    source = lines[min(line, len(lines)) - 1]
    pointer = " " * (min(column, len(source) + 1) - 1) + "^"
    return InputError(
        f"Cannot parse the {what} as {fmt}: line {line}, column {column}: {problem}.\n"
        f"    {source}\n    {pointer}\n"
        "Nothing was sent: fix the body and run the cell again."
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def parse_mapping_option(value: str, *, option: str) -> dict[str, Any]:
    """The value of an option such as ``--input`` or ``--metadata``: a JSON object."""
    if not value.strip():
        raise InputError(f"{option} needs a value, e.g. {option} '{{\"x\": 1}}'.")
    return parse_body(value, what=f"value of {option}")


# ---------------------------------------------------------------------- magic lines


def split_args(line: str) -> list[str]:
    """Split a magic line into arguments, shell-style, keeping JSON values whole.

    Quotes group words (``'a b'`` is one argument, without the quotes); a ``{...}`` or
    ``[...]`` group is kept verbatim, quotes and spaces included, so that
    ``--input {"topic": "otters"}`` needs no extra quoting.
    """
    args: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        word: list[str] = []
        while i < n and not line[i].isspace():
            char = line[i]
            if char in _OPENERS:
                end = _group_end(line, i)
                word.append(line[i:end])
                i = end
            elif char in "\"'":
                end = _quote_end(line, i)
                word.append(_unquote(line[i + 1 : end - 1], char))
                i = end
            else:
                word.append(char)
                i += 1
        args.append("".join(word))
    return args


def _quote_end(line: str, start: int) -> int:
    quote = line[start]
    i = start + 1
    while i < len(line):
        if line[i] == "\\" and quote == '"':
            i += 2
            continue
        if line[i] == quote:
            return i + 1
        i += 1
    raise InputError(
        f"Unclosed {quote} quote at column {start + 1} of the magic line: {line!r}. "
        f"Close it with {quote}."
    )


def _unquote(text: str, quote: str) -> str:
    if quote == "'":
        return text
    return text.replace('\\"', '"').replace("\\\\", "\\")


def _group_end(line: str, start: int) -> int:
    """Index after the bracket that closes the one at ``start`` (quotes respected)."""
    stack = [_OPENERS[line[start]]]
    i = start + 1
    while i < len(line) and stack:
        char = line[i]
        if char in "\"'":
            i = _quote_end(line, i)
            continue
        if char in _OPENERS:
            stack.append(_OPENERS[char])
        elif char in "}]":
            if char != stack[-1]:
                break
            stack.pop()
        i += 1
    if stack:
        raise InputError(
            f"Unbalanced {line[start]!r} at column {start + 1} of the magic line: "
            f"expected {stack[-1]!r} before the end. Check the JSON value."
        )
    return i


class HelpRequested(Exception):
    """``-h``/``--help`` was given: the message is the help text to print."""


class ArgParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`InputError` instead of exiting the kernel."""

    def __init__(self, prog: str, description: str | None = None) -> None:
        super().__init__(
            prog=prog,
            description=description,
            allow_abbrev=False,
            exit_on_error=False,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{self.prog}: {message}.\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise HelpRequested(message or self.format_help())

    def print_help(self, file: Any = None) -> None:
        raise HelpRequested(self.format_help())

    def parse(self, args: Sequence[str]) -> argparse.Namespace:
        """Parse ``args``; every problem is an :class:`InputError` naming the usage."""
        try:
            return self.parse_args(list(args))
        except argparse.ArgumentError as exc:
            self.error(str(exc))


def panel_mode(value: str) -> str:
    """argparse type for ``--panel``."""
    if value not in PANEL_MODES:
        raise argparse.ArgumentTypeError(
            f"invalid panel mode {value!r}: use one of {', '.join(PANEL_MODES)}"
        )
    return value


def identifier(value: str) -> str:
    """argparse type for ``-o VAR`` / ``--input-var NAME``: a Python identifier."""
    if not value.isidentifier():
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid Python variable name")
    return value


def positive_int(value: str) -> int:
    """argparse type for ``--limit``."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return number


# ---------------------------------------------------------------------- parsers


def _add_display_options(parser: ArgParser) -> None:
    parser.add_argument(
        "-o",
        "--out",
        dest="out",
        type=identifier,
        metavar="VAR",
        help="also store the ExecutionHandle in the user namespace as VAR",
    )
    parser.add_argument("--wait", action="store_true", help="block until the execution is terminal")
    parser.add_argument(
        "--panel",
        type=panel_mode,
        metavar="MODE",
        default=None,
        help="live view: auto, widget, html or none (default: JulepMagics.panel)",
    )


def _add_input_options(parser: ArgParser, *, what: str) -> None:
    parser.add_argument(
        "--input",
        dest="input",
        metavar="JSON",
        default=None,
        help=f'the {what} as a JSON object, e.g. --input {{"x": 1}}',
    )
    parser.add_argument(
        "--input-var",
        dest="input_var",
        type=identifier,
        metavar="NAME",
        help=f"take the {what} from the dict NAME in the user namespace",
    )


def run_parser() -> ArgParser:
    """``%julep_exec run TASK_ID`` and ``%%julep_exec TASK_ID``."""
    parser = ArgParser("%julep_exec run", "Start an execution of a task and watch it live.")
    parser.add_argument(
        "task_id",
        metavar="TASK_ID",
        help="a task id, or the name of a task defined with %%%%julep_task",
    )
    _add_input_options(parser, what="execution input")
    parser.add_argument(
        "--metadata", metavar="JSON", default=None, help="execution metadata (a JSON object)"
    )
    _add_display_options(parser)
    return parser


def resume_parser() -> ArgParser:
    """``%%julep_exec resume EXECUTION_ID`` (body = the resume input)."""
    parser = ArgParser("%julep_exec resume", "Answer an execution that is awaiting input.")
    parser.add_argument("execution_id", metavar="EXECUTION_ID")
    _add_input_options(parser, what="resume input")
    _add_display_options(parser)
    return parser


def execution_parser(command: str) -> ArgParser:
    """``status``, ``watch``, ``cancel`` and ``transitions``: one EXECUTION_ID each."""
    descriptions = {
        "status": "Show an execution's current state (one request, no watching).",
        "watch": "Attach to an existing execution and watch it live.",
        "cancel": "Cancel an execution.",
        "transitions": "List an execution's transitions.",
    }
    parser = ArgParser(f"%julep_exec {command}", descriptions[command])
    parser.add_argument("execution_id", metavar="EXECUTION_ID")
    if command == "watch":
        _add_display_options(parser)
    elif command == "cancel":
        parser.add_argument("--reason", default=None, help="why (stored by the server)")
    elif command == "transitions":
        parser.add_argument(
            "--limit",
            type=positive_int,
            default=None,
            metavar="N",
            help="only the newest N transitions (default: all)",
        )
    return parser


def list_parser() -> ArgParser:
    """``%julep_exec list TASK_ID``."""
    parser = ArgParser("%julep_exec list", "List a task's executions, newest first.")
    parser.add_argument(
        "task_id",
        metavar="TASK_ID",
        help="a task id, or the name of a task defined with %%%%julep_task",
    )
    parser.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="at most N (default 20)"
    )
    return parser


def config_parser() -> ArgParser:
    """``%julep_exec config [NAME=VALUE ...]``."""
    parser = ArgParser(
        "%julep_exec config",
        "Show the resolved settings (the key masked), or set JulepMagics options.",
    )
    parser.add_argument(
        "assignments",
        nargs="*",
        metavar="NAME=VALUE",
        help="set options, e.g. base_url=http://127.0.0.1:8080 panel=html",
    )
    return parser


def task_parser() -> ArgParser:
    """``%%julep_task [--agent ID] [--name NAME] [-o VAR]`` (body = task YAML)."""
    parser = ArgParser("%%julep_task", "Create or update a task from the YAML cell body.")
    parser.add_argument(
        "--agent",
        default=None,
        metavar="ID",
        help="the agent that owns the task (default: one agent per session, created once)",
    )
    parser.add_argument("--name", default=None, help="the task name (default: `name:` in the body)")
    parser.add_argument(
        "-o",
        "--out",
        dest="out",
        type=identifier,
        metavar="VAR",
        help="also store the Task in the user namespace as VAR",
    )
    return parser


def parse_assignment(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` → ``(NAME, VALUE)``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InputError(f"Expected NAME=VALUE, got {text!r}: e.g. %julep_exec config panel=html.")
    return name.strip(), value.strip()
