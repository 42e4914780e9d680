"""The usage text of the magics: ``%julep_exec?``, ``%julep_exec help``, ``%%julep_task?``.

Kept apart from the magics class so that the router can print it without
importing the class that calls the router.
"""

from __future__ import annotations

from typing import Final

__all__ = ["EXEC_USAGE", "TASK_USAGE"]

EXEC_USAGE: Final = """\
Start, watch, resume, cancel and inspect Julep task executions, and Temporal or
Thand workflows (--source).

Cell magics (the body is YAML or JSON; an empty body is ``{}``)::

    %%julep_exec TASK_ID [-o VAR] [--wait] [--metadata JSON] [--panel MODE]
                         [--input-var NAME]
    <input>                 start an execution; a live panel follows it

    %%julep_exec resume EXECUTION_ID [-o VAR] [--wait] [--panel MODE]
    <resume input>          answer an execution that is awaiting_input

    %%julep_exec TASK_ID --over VAR [-o NAME] [--concurrency N] [--wait]
    <fields>                one execution per row of VAR (a list of dicts or a
                            DataFrame), <fields> merged into every input (they
                            win over a row's own); one batch panel

    %%julep_exec signal WORKFLOW_ID SIGNAL_NAME --source URL_OR_NAME
    <payload>               signal a Temporal or Thand workflow

Line magics::

    %julep_exec run TASK_ID [--input JSON] [-o VAR] [--wait] [--metadata JSON]
                            [--panel MODE] [--input-var NAME]
    %julep_exec TASK_ID …                   the same ("run" may be left out)
    %julep_exec status EXECUTION_ID         current state, read once
    %julep_exec watch EXECUTION_ID [-o VAR] [--wait] [--panel MODE]
    %julep_exec cancel EXECUTION_ID [--reason TEXT]
    %julep_exec transitions EXECUTION_ID [--limit N]
    %julep_exec list TASK_ID [--limit N]    the task's executions, newest first
    %julep_exec list --source S [--query Q] [--limit N]   a source's workflows
    %julep_exec terminate WORKFLOW_ID --source S [--reason TEXT]
    %julep_exec signal WORKFLOW_ID SIGNAL_NAME --source S [--payload JSON]
    %julep_exec query WORKFLOW_ID QUERY_NAME [ARG ...] --source S
    %julep_exec config [NAME=VALUE ...]     resolved settings (key masked), or set
                                            JulepMagics options
    %julep_exec help                        this text

TASK_ID is a task id, or the name of a task defined with ``%%julep_task`` in
this session. JSON values need no quoting: ``--input {"topic": "otters"}``.
``--source`` (on status, watch, cancel, list, terminate, signal, query) takes
temporal://HOST:PORT/NAMESPACE, thand+http://HOST:PORT/api/v1, or a name from
``%config JulepMagics.sources = {NAME: URL}``; without it, everything is Julep.

Options:
  -o VAR            also store the result (an ExecutionHandle) in VAR
  --wait            block until the execution is terminal
  --metadata JSON   execution metadata (a JSON object)
  --panel MODE      auto | widget | html | none (default: JulepMagics.panel)
  --input JSON      the input on the magic line (instead of a cell body)
  --input-var NAME  the input from the dict NAME in the notebook

``run``, ``watch``, ``resume`` and the cell form return an ExecutionHandle:
``h = %julep_exec run TASK_ID --input {}`` then ``state = await h``. ``status``
returns an ExecutionState; ``list`` and ``transitions`` return lists.
Each subcommand also has ``-h``. Settings: ``%config JulepMagics`` (base_url,
environment, api_key, agent_id, panel, refresh_rate, timeline_limit,
auto_local, sources); environment variables JULEP_BASE_URL and JULEP_API_KEY apply.
With neither a URL nor a key, the embedded local server is started.
Full reference: docs/magics.md.
"""

TASK_USAGE: Final = """\
Create a task from the YAML cell body, or update the one with the same name.

::

    %%julep_task [--agent ID] [--name NAME] [-o VAR]
    name: hello                  # or --name hello
    input_schema: {...}          # optional
    main:
      - evaluate:
          greeting: $ "Hello, " + steps[0].input.name

The task belongs to ``--agent ID``, else ``JulepMagics.agent_id``, else one
default agent created on first use. Shows and returns the Task; its name can
then be used instead of its id: ``%%julep_exec hello``.
"""
