"""One plain function per subcommand, behind a dict router.

Each command takes the :class:`~julep_nb.magics.magics.JulepMagics` instance (for
its client, its loop runner and the user namespace), the parsed arguments and the
cell body. Everything a user can get wrong is checked before the first request,
so a bad cell sends nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import inspect
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from julep_nb.live.errors import ActionRefused
from julep_nb.magics import arguments, parsing
from julep_nb.magics.expand import Expansion, expand_args
from julep_nb.magics.results import ExecutionList, SettingsView, TransitionList
from julep_nb.sources.julep.errors import APIError, InputError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from julep_nb.live.handle import ExecutionHandle
    from julep_nb.live.state import ExecutionState
    from julep_nb.magics.magics import JulepMagics
    from julep_nb.sources.julep.client import Client
    from julep_nb.sources.julep.models import Task

__all__ = ["COMMANDS", "exec_magic", "task_magic"]

Command = Callable[["JulepMagics", argparse.Namespace, "str | None"], Any]

DEFAULT_AGENT_NAME = "julep_nb"


# ---------------------------------------------------------------------- entry points


def exec_magic(m: JulepMagics, line: str, cell: str | None) -> Any:
    """``%julep_exec`` / ``%%julep_exec``: route to a subcommand.

    A first word that is not a subcommand is a task: ``%%julep_exec TASK_ID`` with
    the input as the body, or ``%julep_exec TASK_ID`` with no input (IPython refuses
    a cell magic whose body is completely empty and suggests the single-% form).
    """
    args = _expanded(m, line)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return None
    name = args[0]
    if name in COMMANDS and (cell is None or name in ("run", "resume")):
        return _dispatch(m, name, args, cell)
    if cell is not None and name in COMMANDS:
        raise InputError(
            f"%%julep_exec {name} is a line magic: write it with a single % "
            f"(%julep_exec {name} …), without a cell body."
        )
    close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.75)
    if close:
        raise InputError(
            f"Unknown subcommand {name!r}: did you mean {close[0]!r}? (To run a task named "
            f"{name!r}, write %julep_exec run {name}.)"
        )
    return _dispatch(m, "run", Expansion(["run", *args], args.failures), cell)


def task_magic(m: JulepMagics, line: str, cell: str) -> Task:
    """``%%julep_task``: create the task, or update the agent's task of the same name."""
    expanded = _expanded(m, line)
    args = arguments.task_parser().parse(expanded)
    if args.agent is not None:
        args.agent = expanded.check_ref(args.agent, what="--agent")
    spec = _task_spec(cell, args.name)
    client = m.client()
    agent_id = args.agent or m.agent_id or _default_agent(m, client)
    with _unknown("agent", agent_id):
        existing = m.run(client.list_tasks(agent_id))
    same = [t for t in existing if t.name == spec["name"]]
    with _refused(f"task {spec['name']!r}", "the task was not saved"):
        if same:
            task = m.run(client.update_task(agent_id, same[0].id, spec))
        else:
            task = m.run(client.create_task(agent_id, spec))
    m.task_names[spec["name"]] = task.id
    m.store(args.out, task)
    return task


def _expanded(m: JulepMagics, line: str) -> Expansion:
    """The magic line's arguments, ``{expr}``/``$name`` expanded (see ``expand.py``)."""
    return expand_args(parsing.split_args(line), m.shell.user_ns if m.shell else None)


def _dispatch(m: JulepMagics, name: str, args: Expansion, cell: str | None) -> Any:
    parser, command = COMMANDS[name]
    namespace = parser().parse(args[1:])
    if getattr(namespace, "execution_id", None):
        ref = args.check_ref(namespace.execution_id, what="EXECUTION_ID")
        namespace.execution_id = _execution_ref(m, ref)
    if getattr(namespace, "task_id", None):
        ref = args.check_ref(namespace.task_id, what="TASK_ID")
        namespace.task_id = _task_ref(m, ref)
    return command(m, namespace, cell)


def _task_ref(m: JulepMagics, value: str) -> str:
    """A task id or session task name, or the one a notebook variable ``value`` holds.

    Names defined with ``%%julep_task`` come first; then a Python name bound to a
    ``Task``, a handle or state (its task), or a string.
    """
    if value in m.task_names or not value.isidentifier() or m.shell is None:
        return value
    if value not in m.shell.user_ns:
        return value
    bound = m.shell.user_ns[value]
    if isinstance(bound, str):
        return bound
    found = getattr(bound, "task_id", None)  # a handle, a state, an Execution
    if not isinstance(found, str) and type(bound).__name__ == "Task":
        found = getattr(bound, "id", None)  # ours or the official SDK's
    if isinstance(found, str) and found:
        return found
    raise InputError(
        f"{value!r} in this notebook is not a task (it is of type {type(bound).__name__}): "
        "pass a task id, a name defined with %%julep_task, or a variable holding a Task "
        "(e.g. one saved with %%julep_task -o NAME)."
    )


def _execution_ref(m: JulepMagics, value: str) -> str:
    """An execution id, or the id of the notebook variable named ``value``.

    ``%%julep_exec resume form_run`` reads better than pasting a UUID: a Python name
    bound to an execution handle, state, ``Execution`` or transition, or to a string,
    stands for that execution. Ids are used as given.
    """
    if not value.isidentifier() or m.shell is None or value not in m.shell.user_ns:
        return value
    bound = m.shell.user_ns[value]
    if isinstance(bound, str):
        return bound
    found = getattr(bound, "execution_id", None)  # a state, a transition
    if not isinstance(found, str) and "Execution" in type(bound).__name__:
        found = getattr(bound, "id", None)  # a handle, an Execution (ours or the SDK's)
    if isinstance(found, str) and found:
        return found
    raise InputError(
        f"{value!r} in this notebook is not an execution (it is of type "
        f"{type(bound).__name__}): pass an execution id, or the name of a handle "
        "(e.g. one saved with -o NAME)."
    )


def _usage() -> str:
    from julep_nb.magics.magics import JulepMagics

    return inspect.cleandoc(JulepMagics.julep_exec.__doc__ or "")


# ---------------------------------------------------------------------- executions


def run(m: JulepMagics, args: argparse.Namespace, body: str | None) -> ExecutionHandle:
    """Start an execution of a task and show it live."""
    payload = _input(m, args, body, what="execution input")
    metadata = None
    if args.metadata is not None:
        metadata = parsing.parse_mapping_option(args.metadata, option="--metadata")
    client = m.client()
    task_id = m.task_names.get(args.task_id, args.task_id)

    async def start() -> ExecutionHandle:
        from julep_nb.connect import run as run_task

        return await run_task(task_id, payload, client=client, metadata=metadata, key=m.cell_key)

    with (  # _unknown inside: a 400 for a task *name* means "unknown task"
        _refused(f"the input of task {args.task_id!r}", "no execution was started"),
        _unknown("task", args.task_id, sent=task_id, hint=_task_hint(m)),
    ):
        handle = m.run(start())
    return _present(m, handle, args)


def resume(m: JulepMagics, args: argparse.Namespace, body: str | None) -> ExecutionHandle:
    """Answer an execution that is awaiting input, then show it live."""
    payload = _input(m, args, body, what="resume input")
    handle = _attach(m, m.client(), args.execution_id, start=False)
    with (
        _unknown("execution", args.execution_id),
        _refused(f"the resume input of execution {args.execution_id}", "it is still waiting"),
    ):
        try:
            m.run(handle.resume(payload))
        except ActionRefused as exc:
            if isinstance(exc, APIError):
                raise
            raise UsageError(
                f"{exc} Check it with %julep_exec status {args.execution_id}."
            ) from None
    m.run(_started(handle))
    return _present(m, handle, args)


def watch(m: JulepMagics, args: argparse.Namespace, body: str | None) -> ExecutionHandle:
    """Attach to an existing execution and show it live."""
    client = m.client()
    with _unknown("execution", args.execution_id):
        m.run(client.get_execution(args.execution_id))
    return _present(m, _attach(m, client, args.execution_id), args)


def status(m: JulepMagics, args: argparse.Namespace, body: str | None) -> ExecutionState:
    """The execution's state now: one snapshot, as a watcher starts from."""
    from julep_nb.connect import source_for
    from julep_nb.live.state import reduce_all

    with _unknown("execution", args.execution_id):
        snapshot = m.run(source_for(m.client()).snapshot(args.execution_id))
    return reduce_all(None, snapshot.events)


def cancel(m: JulepMagics, args: argparse.Namespace, body: str | None) -> None:
    """Cancel an execution (the server records the reason)."""
    client = m.client()
    with _unknown("execution", args.execution_id):
        execution = m.run(client.get_execution(args.execution_id))
    if execution.status.is_terminal:
        raise UsageError(
            f"Execution {args.execution_id} already ended ({execution.status.value}): "
            "there is nothing to cancel."
        )
    m.run(client.cancel(args.execution_id, reason=args.reason))
    print(f"Cancelled execution {args.execution_id} (it was {execution.status.value}).")


def transitions(m: JulepMagics, args: argparse.Namespace, body: str | None) -> TransitionList:
    """The execution's transitions, oldest first (the newest ``--limit N`` if given)."""
    client = m.client()
    with _unknown("execution", args.execution_id):
        if args.limit is None:
            items = m.run(client.list_transitions(args.execution_id))
        else:
            newest = m.run(
                client.list_transitions(args.execution_id, limit=args.limit, direction="desc")
            )
            items = list(reversed(newest))
    return TransitionList(items)


def list_executions(m: JulepMagics, args: argparse.Namespace, body: str | None) -> ExecutionList:
    """The task's executions, newest first."""
    client = m.client()
    task_id = m.task_names.get(args.task_id, args.task_id)
    with _unknown("task", args.task_id, sent=task_id, hint=_task_hint(m)):
        m.run(client.get_task(task_id))
        items = m.run(client.list_executions(task_id, limit=min(args.limit, 100)))
    return ExecutionList(items)


def config(m: JulepMagics, args: argparse.Namespace, body: str | None) -> SettingsView:
    """The resolved settings, the key masked; ``NAME=VALUE`` sets options first."""
    for assignment in args.assignments:
        name, value = arguments.parse_assignment(assignment)
        _set_option(m, name, value)
    settings = m.settings()
    view: dict[str, Any] = dict(settings.describe())
    if settings.use_local:
        local_url = m.local_url()
        if local_url:
            view["base_url"] = f"{local_url} (embedded local server)"
        elif not m.auto_local:
            view["base_url"] = "(none: set JULEP_API_KEY or JULEP_BASE_URL)"
    for name in ("agent_id", "panel", "refresh_rate", "timeline_limit", "auto_local"):
        view[name] = getattr(m, name)
    view["tasks defined here"] = ", ".join(m.task_names) or "—"
    return SettingsView(view)


COMMANDS: dict[str, tuple[Callable[[], arguments.ArgParser], Command]] = {
    "run": (arguments.run_parser, run),
    "resume": (arguments.resume_parser, resume),
    "status": (lambda: arguments.execution_parser("status"), status),
    "watch": (lambda: arguments.execution_parser("watch"), watch),
    "cancel": (lambda: arguments.execution_parser("cancel"), cancel),
    "transitions": (lambda: arguments.execution_parser("transitions"), transitions),
    "list": (arguments.list_parser, list_executions),
    "config": (arguments.config_parser, config),
}


# ---------------------------------------------------------------------- helpers


def _input(m: JulepMagics, args: argparse.Namespace, body: str | None, *, what: str) -> dict:
    """The input from exactly one of: the cell body, ``--input``, ``--input-var``."""
    given = [
        name
        for name, present in (
            ("the cell body", parsing.has_content(body)),
            ("--input", args.input is not None),
            ("--input-var", args.input_var is not None),
        )
        if present
    ]
    if len(given) > 1:
        raise InputError(f"The {what} is given twice ({' and '.join(given)}): keep one.")
    if args.input is not None:
        return parsing.parse_mapping_option(args.input, option="--input")
    if args.input_var is not None:
        return _input_from_namespace(m, args.input_var, what)
    return parsing.parse_body(body, what="cell body")


def _input_from_namespace(m: JulepMagics, name: str, what: str) -> dict:
    namespace = m.user_ns
    if name not in namespace:
        raise InputError(f"--input-var {name}: there is no variable {name!r} in the notebook.")
    value = namespace[name]
    if not isinstance(value, Mapping):
        raise InputError(
            f"--input-var {name}: {name} is a {type(value).__name__}, but the {what} must be "
            "a dict."
        )
    return dict(value)


def _attach(
    m: JulepMagics, client: Client, execution_id: str, *, start: bool = True
) -> ExecutionHandle:
    from julep_nb.connect import source_for
    from julep_nb.live.handle import ExecutionHandle

    handle = ExecutionHandle(execution_id, source=source_for(client), key=m.cell_key)
    if start:
        m.run(_started(handle))
    return handle


async def _started(handle: ExecutionHandle) -> None:
    handle.start()  # on the kernel loop, where it keeps running between cells


def _present(m: JulepMagics, handle: ExecutionHandle, args: argparse.Namespace) -> Any:
    """Show the panel, store ``-o VAR``, wait if asked; return the handle."""
    mode = args.panel or m.panel
    shown = False
    if mode != "none":
        from julep_nb.display.panel import ExecutionPanel, show

        panel = show(
            handle,
            mode=mode,
            timeline_limit=m.timeline_limit,
            refresh_rate=m.refresh_rate,
            initial=False,  # without a frontend, the result line shows the start
        )
        shown = isinstance(panel, ExecutionPanel)
    m.adopt(handle, shown=shown)
    m.store(args.out, handle)
    if args.wait:
        _wait(m, handle)
    return handle


def _wait(m: JulepMagics, handle: ExecutionHandle) -> None:
    # On the kernel loop (re-entered with nest_asyncio2 in a kernel), not on a private
    # loop: the watcher is a task on the kernel loop and keeps running there.
    async def final() -> None:
        await handle

    try:
        m.run(final())
    except asyncio.CancelledError:
        raise UsageError(
            f"Stopped waiting: the watcher of execution {handle.id} was cancelled while it "
            f"was {handle.status.value}. `await h` starts a new one."
        ) from None


def _task_spec(cell: str, name: str | None) -> dict[str, Any]:
    if not cell.strip():
        raise InputError(
            "The %%julep_task cell is empty: write the task YAML below the magic line "
            "(name: …, main: [steps])."
        )
    spec = parsing.parse_body(cell, what="task YAML")
    if name is not None:
        spec["name"] = name
    if not isinstance(spec.get("name"), str) or not spec["name"].strip():
        raise InputError("The task has no name: add `name: …` to the YAML or pass --name NAME.")
    if not isinstance(spec.get("main"), list) or not spec["main"]:
        raise InputError(
            f"Task {spec['name']!r} has no steps: add `main:` with a list of steps. "
            "Nothing was sent."
        )
    return spec


def _default_agent(m: JulepMagics, client: Client) -> str:
    """One agent per server for this session, created on first use."""
    server = client.base_url or ""
    if server not in m.agents:
        about = "Owns the tasks defined with %%julep_task."
        m.agents[server] = m.run(client.create_agent(name=DEFAULT_AGENT_NAME, about=about)).id
    return m.agents[server]


def _task_hint(m: JulepMagics) -> str:
    if m.task_names:
        return f"Tasks defined with %%julep_task here: {', '.join(m.task_names)}."
    return "Define one with %%julep_task, or check the id."


@contextlib.contextmanager
def _unknown(kind: str, ref: str, *, sent: str | None = None, hint: str = "") -> Iterator[None]:
    """A 404 inside becomes "Unknown <kind> '<ref>'" (the server's words kept).

    Hosted Julep answers 400/422, not 404, for an id that is not a UUID (a task name
    typed where an id was expected): that is reported the same way. ``sent`` is the
    id actually sent when ``ref`` is a task name.
    """
    try:
        yield
    except (NotFoundError, ValidationError) as exc:
        if isinstance(exc, ValidationError) and _is_uuid(sent or ref):
            raise
        raise UsageError(
            f"Unknown {kind} {ref!r}: the server answered {exc.status} ({exc.message}). {hint}"
        ) from None


@contextlib.contextmanager
def _refused(what: str, consequence: str) -> Iterator[None]:
    """A 400/422 inside becomes "The server refused <what>: <its message>"."""
    try:
        yield
    except ValidationError as exc:
        raise UsageError(f"The server refused {what}: {exc.message} ({consequence}).") from None


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


_OPTIONS = (
    "base_url", "environment", "api_key", "agent_id",
    "panel", "refresh_rate", "timeline_limit", "auto_local",
)  # fmt: skip


def _set_option(m: JulepMagics, name: str, value: str) -> None:
    if name not in _OPTIONS:
        raise InputError(f"Unknown option {name!r}: use one of {', '.join(_OPTIONS)}.")
    parsed: Any = value
    if value.lower() in ("", "none", "null"):
        parsed = None
    elif name == "auto_local":
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InputError(f"auto_local is true or false, not {value!r}.")
        parsed = value.lower() in ("true", "1", "yes")
    elif name in ("refresh_rate", "timeline_limit"):
        try:
            parsed = float(value) if name == "refresh_rate" else int(value)
        except ValueError:
            raise InputError(f"{name} must be a number, not {value!r}.") from None
    if parsed is None and name not in ("base_url", "environment", "api_key", "agent_id"):
        raise InputError(f"{name} cannot be empty.")
    setattr(m, name, parsed)
