"""The magics' command-line options: argparse parsers that never exit the kernel.

Each subcommand has a parser factory here; :mod:`julep_nb.magics.router` maps
subcommand names to (parser factory, function). Options shared by several
subcommands are added by one helper each (``_add_display_options``,
``_add_input_options``), so a new option is one helper line. Every problem is an
:class:`~julep_nb.sources.julep.errors.InputError` naming the usage.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Final, NoReturn

from julep_nb.sources.julep.errors import InputError

__all__ = [
    "PANEL_MODES",
    "ArgParser",
    "HelpRequested",
    "cancel_parser",
    "config_parser",
    "list_parser",
    "parse_assignment",
    "query_parser",
    "resume_parser",
    "run_parser",
    "signal_parser",
    "status_parser",
    "task_parser",
    "terminate_parser",
    "transitions_parser",
    "watch_parser",
]

PANEL_MODES: Final = ("auto", "widget", "html", "none")


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


def _add_source_option(parser: ArgParser) -> None:
    parser.add_argument(
        "--source",
        default=None,
        metavar="URL_OR_NAME",
        help="a Temporal or Thand source: temporal://HOST:PORT/NAMESPACE, "
        "thand+http://HOST:PORT/api/v1, or a name from JulepMagics.sources "
        "(default: Julep)",
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
    parser.add_argument(
        "--over",
        type=identifier,
        metavar="VAR",
        default=None,
        help="run once per row of VAR (a list of dicts or a DataFrame): a batch",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        metavar="N",
        default=None,
        help="with --over: at most N executions in flight (default 16)",
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


def _execution_parser(
    command: str, description: str, *, source: bool = True, metavar: str = "EXECUTION_ID"
) -> ArgParser:
    parser = ArgParser(f"%julep_exec {command}", description)
    parser.add_argument("execution_id", metavar=metavar)
    if source:
        _add_source_option(parser)
    return parser


def status_parser() -> ArgParser:
    """``%julep_exec status EXECUTION_ID``."""
    return _execution_parser("status", "Show an execution's current state (no watching).")


def watch_parser() -> ArgParser:
    """``%julep_exec watch EXECUTION_ID [-o VAR] [--wait] [--panel MODE]``."""
    parser = _execution_parser("watch", "Attach to an existing execution and watch it live.")
    _add_display_options(parser)
    return parser


def cancel_parser() -> ArgParser:
    """``%julep_exec cancel EXECUTION_ID [--reason TEXT]``."""
    parser = _execution_parser("cancel", "Cancel an execution (gracefully).")
    parser.add_argument("--reason", default=None, help="why (stored by the server)")
    return parser


def terminate_parser() -> ArgParser:
    """``%julep_exec terminate WORKFLOW_ID --source S [--reason TEXT]``."""
    parser = _execution_parser(
        "terminate", "End a Temporal or Thand workflow at once.", metavar="WORKFLOW_ID"
    )
    parser.add_argument("--reason", default=None, help="why (kept in the workflow's history)")
    return parser


def signal_parser() -> ArgParser:
    """``%julep_exec signal WORKFLOW_ID NAME --source S [--payload JSON]`` (or a cell body)."""
    parser = _execution_parser(
        "signal", "Send a signal to a Temporal or Thand workflow.", metavar="WORKFLOW_ID"
    )
    parser.add_argument("signal", metavar="SIGNAL_NAME")
    parser.add_argument(
        "--payload",
        metavar="JSON",
        default=None,
        help="the signal's payload as JSON (or the cell body, YAML or JSON)",
    )
    return parser


def query_parser() -> ArgParser:
    """``%julep_exec query WORKFLOW_ID NAME [ARG ...] --source S``."""
    parser = _execution_parser(
        "query", "Ask a Temporal workflow's query and show the answer.", metavar="WORKFLOW_ID"
    )
    parser.add_argument("query", metavar="QUERY_NAME")
    parser.add_argument(
        "args", nargs="*", metavar="ARG", help="the query's arguments (each JSON, else a string)"
    )
    return parser


def transitions_parser() -> ArgParser:
    """``%julep_exec transitions EXECUTION_ID [--limit N]``."""
    parser = _execution_parser("transitions", "List an execution's transitions.", source=False)
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="only the newest N transitions (default: all)",
    )
    return parser


def list_parser() -> ArgParser:
    """``%julep_exec list TASK_ID`` or ``%julep_exec list --source S [--query Q]``."""
    parser = ArgParser(
        "%julep_exec list", "List a task's executions, or a source's workflows, newest first."
    )
    parser.add_argument(
        "task_id",
        metavar="TASK_ID",
        nargs="?",
        default=None,
        help="a task id, or the name of a task defined with %%%%julep_task (Julep)",
    )
    _add_source_option(parser)
    parser.add_argument(
        "--query",
        default=None,
        metavar="TEXT",
        help="with a Temporal --source: a visibility query, e.g. \"WorkflowType = 'Approval'\"",
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
