"""``%%julep_exec TASK --over VAR``: a batch from a notebook variable, against the local server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from julep_nb.batch import BatchHandle
from julep_nb.live.events import ExecutionStatus
from tests.magics.conftest import Shell, docs_block
from tests.magics.test_kernel import execute, idle_messages, kernel, ok  # noqa: F401

if TYPE_CHECKING:
    from jupyter_client.blocking.client import BlockingKernelClient

    from julep_nb.local.server import LocalServer

S = ExecutionStatus

TASK_DIVIDE = """\
name: divide
main:
  - evaluate:
      quotient: $ 10 // steps[0].input["n"]
      tag: $ steps[0].input.get("tag")
"""


@pytest.fixture
def divide(julep: Shell) -> Shell:
    julep.run(f"%%julep_task\n{TASK_DIVIDE}")
    return julep


def finals(shell: Shell, name: str) -> list[Any]:
    shell.run(f"_states = await {name}")
    states: list[Any] = shell.ns["_states"]
    return states


def test_a_list_of_dicts_with_body_fields_merged(divide: Shell) -> None:
    divide.ns["rows"] = [{"n": 1}, {"n": 2, "tag": "mine"}, {"n": 0}, {"n": 5}]
    result = divide.run(
        "%%julep_exec divide --over rows -o b --wait --concurrency 2\n"
        "# merged into every input; the body wins over a row's own field\n"
        "tag: shared\n"
    )
    batch = divide.ns["b"]
    assert isinstance(batch, BatchHandle) and result is batch and batch.done
    states = finals(divide, "b")
    assert [s.status for s in states] == [S.SUCCEEDED, S.SUCCEEDED, S.FAILED, S.SUCCEEDED]
    assert [s.output["quotient"] for s in states if s.status is S.SUCCEEDED] == [10, 5, 2]
    assert [s.output["tag"] for s in states if s.status is S.SUCCEEDED] == ["shared"] * 3
    assert batch.status_counts == {S.SUCCEEDED: 3, S.FAILED: 1}
    frame = batch.to_dataframe()
    assert list(frame["n"]) == [1, 2, 0, 5] and set(frame["tag"]) == {"shared"}


def test_a_dataframe_with_and_without_a_body(divide: Shell) -> None:
    pd = pytest.importorskip("pandas")
    divide.ns["df"] = pd.DataFrame({"n": [5, 2, 10], "tag": ["a", "b", "c"]})
    divide.run("%julep_exec divide --over df -o plain --wait")
    plain = finals(divide, "plain")
    assert [(s.output["quotient"], s.output["tag"]) for s in plain] == [
        (2, "a"),
        (5, "b"),
        (1, "c"),
    ]

    divide.run("%%julep_exec divide --over df -o merged --wait\ntag: z\nextra: 1\n")
    merged = finals(divide, "merged")
    assert [(s.output["quotient"], s.output["tag"]) for s in merged] == [
        (2, "z"),
        (5, "z"),
        (1, "z"),
    ]
    assert list(divide.ns["merged"].to_dataframe().columns[:3]) == ["n", "tag", "extra"]


def test_the_batch_panel_shows_the_batch(divide: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    divide.ns["rows"] = [{"n": 1}, {"n": 2}]
    divide.run("%julep_exec divide --over rows --wait --panel html")
    out = capsys.readouterr().out  # no frontend here: the panel's final line is printed
    assert "Batch of 2 (done" in out and "succeeded 2" in out


def test_the_docs_batch_example_runs_as_written(julep: Shell) -> None:
    julep.run(docs_block("%%julep_task\nname: divide"))
    julep.run(docs_block('rows = [{"n": 1}'))
    julep.run(docs_block("%%julep_exec divide --over rows -o batch"))
    julep.run(docs_block("states = await batch"))
    assert [s.status.value for s in julep.ns["states"]] == ["succeeded", "succeeded", "failed"]
    assert [s.output["tag"] for s in julep.ns["states"][:2]] == ["shared", "shared"]
    assert len(julep.ns["retry"]) == 1


def test_running_a_batch_cell_again_stops_the_first_batch_starting_more(julep: Shell) -> None:
    julep.run("%%julep_task\nname: second\nmain:\n  - sleep: {seconds: 1}\n  - return: {n: 1}\n")
    julep.ns["rows"] = [{"n": i} for i in range(12)]
    cell = "%julep_exec second --over rows --concurrency 2 --panel none"
    first = julep.run(cell, cell_id="batch-cell")
    julep.until(lambda: sum(1 for e in first.execution_ids if e) >= 2)
    second = julep.run(cell, cell_id="batch-cell")  # the same cell again
    assert second.watching
    julep.until(lambda: first.done, timeout=20)  # its started executions ran to their end
    started = [s for s in first.states if s.execution_id]
    assert 2 <= len(started) < 12 and {s.status for s in started} == {S.SUCCEEDED}
    not_started = [s for s in first.states if not s.execution_id]
    assert not_started and {s.status for s in not_started} == {S.CANCELLED}
    julep.ns["again"] = second
    julep.run("await again.cancel()")


def test_bad_batch_cells_send_nothing(divide: Shell) -> None:
    divide.ns.update(number=3, empty=[], mixed=[{"n": 1}, "two"], rows=[{"n": 1}])
    cases = {
        "%julep_exec divide --over missing": "no variable 'missing'",
        "%julep_exec divide --over number": "not int",
        "%julep_exec divide --over empty": "has no rows",
        "%julep_exec divide --over mixed": "input 1 is a str",
        '%julep_exec divide --over rows --input {"n": 2}': "--input and --over",
        "%%julep_exec divide --over rows\nn: [1,\n": "line 1, column",
        "%julep_exec divide --concurrency 4": "--concurrency goes with --over",
        "%julep_exec divide --over rows --concurrency 0": "positive whole number",
        "%julep_exec nosuchtask --over rows": "Unknown task 'nosuchtask'",
    }
    for cell, expected in cases.items():
        message = divide.fails(cell)
        assert expected in message, (cell, message)
    assert len(divide.run("%julep_exec list divide")) == 0


def test_one_batch_panel_in_a_kernel(
    kernel: BlockingKernelClient,  # noqa: F811
    local_server: LocalServer,
) -> None:
    ok(kernel, "%load_ext julep_nb")
    ok(kernel, f"%config JulepMagics.base_url = {local_server.base_url!r}")
    ok(kernel, f"%%julep_task\n{TASK_DIVIDE}")
    ok(kernel, "rows = [{'n': 1}, {'n': 2}, {'n': 0}]")
    started = ok(kernel, "%%julep_exec divide --over rows -o b\ntag: k\n")
    displays = started.of_type("display_data")
    assert len(displays) == 1 and not started.of_type("execute_result"), started.messages
    display_id = displays[0]["content"]["transient"]["display_id"]

    later = idle_messages(kernel, until=20)  # the batch and its panel go on between cells
    finals = [
        m["content"]["data"]["text/html"]
        for m in later
        if m["msg_type"] == "update_display_data"
        and m["content"]["transient"]["display_id"] == display_id
    ]
    assert finals and "succeeded" in finals[-1]
    text = ok(kernel, "states = await b\nprint([s.status.value for s in states])").text()
    assert text.strip() == "['succeeded', 'succeeded', 'failed']"
    assert execute(kernel, "%julep_exec divide --over nothing").reply["ename"] == "UsageError"
