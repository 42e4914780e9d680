"""The resume form, in-process without a frontend: fields, validation, one request per click."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import ipywidgets as w
import pytest

from julep_nb.display.form import ResumeForm
from julep_nb.sources.julep.errors import ConflictError


class Server:
    """Records resume requests; each one waits for ``release`` (a request in flight)."""

    def __init__(self, *, fail: BaseException | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.threads: list[int] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def resume(self, payload: dict[str, Any]) -> None:
        self.requests.append(payload)
        self.threads.append(threading.get_ident())
        await self.release.wait()
        if self.fail is not None:
            raise self.fail


SCHEMA_INFO = {
    "question": "Pick one",
    "input_schema": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "title": "Your name"},
            "count": {"type": "integer", "minimum": 1, "default": 2},
            "ratio": {"type": "number"},
            "ok": {"type": "boolean"},
            "color": {"enum": ["red", "blue"]},
            "extra": {"type": "object"},
        },
        "required": ["name", "count"],
    },
}


async def finish(form: ResumeForm, server: Server) -> None:
    server.release.set()
    assert form.pending is not None
    await asyncio.wait_for(form.pending, 2)


async def test_schema_fields_become_typed_inputs_with_labels_and_defaults() -> None:
    form = ResumeForm(SCHEMA_INFO, Server().resume)
    kinds = {name: type(widget) for name, widget in form.inputs.items()}
    assert kinds == {
        "name": w.Text,
        "count": w.Text,
        "ratio": w.Text,
        "ok": w.Checkbox,
        "color": w.Dropdown,
        "extra": w.Textarea,
    }
    assert form.inputs["name"].description == "Your name *"
    assert form.inputs["count"].value == "2"
    assert [label for label, _ in form.inputs["color"].options] == ["—", "red", "blue"]
    assert form.textarea is None


async def test_a_valid_submit_sends_one_typed_request() -> None:
    server = Server()
    form = ResumeForm(SCHEMA_INFO, server.resume)
    form.inputs["name"].value = "Ada"
    form.inputs["ratio"].value = "0.5"
    form.inputs["ok"].value = True
    form.inputs["color"].value = "blue"
    form.inputs["extra"].value = "a: [1, 2]"
    form.submit.click()
    assert form.busy and form.submit.disabled and form.submit.description == "Sending…"
    await finish(form, server)
    expected = {"name": "Ada", "count": 2, "ratio": 0.5, "ok": True, "color": "blue"}
    assert server.requests == [{**expected, "extra": {"a": [1, 2]}}]
    assert form.done and form.submit.disabled and form.submit.description == "Sent"
    assert "Sent" in form.message.value and form.error is None


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({"name": ""}, "Your name is required."),
        ({"count": "many"}, "count: 'many' is not an integer."),
        ({"count": "0"}, "count: 0 is less than the minimum of 1"),
        ({"ratio": "x"}, "ratio: 'x' is not a number."),
        ({"extra": "a: [1"}, "extra: not valid YAML/JSON (line 1, column 6)."),
    ],
)
async def test_invalid_fields_send_nothing_and_say_what_to_fix(
    edit: dict[str, str], problem: str
) -> None:
    server = Server()
    form = ResumeForm(SCHEMA_INFO, server.resume)
    form.inputs["name"].value = "Ada"
    for name, value in edit.items():
        form.inputs[name].value = value
    form.submit.click()
    assert server.requests == [] and form.pending is None
    assert form.error is not None and problem in form.error and "Nothing was sent." in form.error
    assert problem.split(" (")[0].replace("'", "&#x27;") in form.message.value
    assert not form.submit.disabled and not form.busy


@pytest.mark.parametrize(
    "info",
    [
        {"fields": ["answer", {"name": "n", "type": "integer", "required": True}]},
        {"fields": {"answer": "string", "n": {"type": "integer", "required": True}}},
    ],
)
async def test_fields_lists_and_dicts(info: dict[str, Any]) -> None:
    server = Server()
    form = ResumeForm(info, server.resume)
    assert list(form.inputs) == ["answer", "n"]
    form.submit.click()
    assert form.error is not None and "n is required." in form.error
    form.inputs["n"].value = "7"
    form.submit.click()
    await finish(form, server)
    assert server.requests == [{"n": 7}]


@pytest.mark.parametrize("info", [{"question": "Which otter?"}, "Which otter?", None, [1, 2]])
async def test_without_a_description_the_form_is_a_yaml_or_json_textarea(info: Any) -> None:
    server = Server()
    form = ResumeForm(info, server.resume)
    assert form.inputs == {} and isinstance(form.textarea, w.Textarea)
    assert form.textarea is not None
    form.textarea.value = '{"answer": 42}'
    form.submit.click()
    await finish(form, server)
    assert server.requests == [{"answer": 42}]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("answer: [1, 2\nother: 3", "Invalid YAML at line 2, column 6"),
        ('{"answer": 42,\n "b": }', "Invalid JSON at line 2, column 7"),
        ("- 1\n- 2", "must be a mapping"),
        ("just words", "must be a mapping"),
        ("{answer: [1, 2}", "Invalid YAML at line 1, column 15"),
    ],
)
async def test_invalid_text_names_line_and_column_and_sends_nothing(
    text: str, problem: str
) -> None:
    server = Server()
    form = ResumeForm({"question": "?"}, server.resume)
    assert form.textarea is not None
    form.textarea.value = text
    form.submit.click()
    form.submit.click()
    await asyncio.sleep(0)
    assert server.requests == []
    assert form.error is not None and problem in form.error
    assert not form.submit.disabled


async def test_an_empty_textarea_resumes_with_an_empty_object() -> None:
    server = Server()
    form = ResumeForm({"question": "Continue?"}, server.resume)
    form.submit.click()
    await finish(form, server)
    assert server.requests == [{}]


async def test_a_double_click_sends_exactly_one_request() -> None:
    server = Server()
    form = ResumeForm({"question": "?"}, server.resume)
    form.submit.click()
    form.submit.click()  # same tick: the first click already disabled the form
    await asyncio.sleep(0.01)
    form.submit.click()  # still in flight
    assert len(server.requests) == 1 and form.sent == 1
    await finish(form, server)
    form.submit.click()  # answered: the form is spent
    await asyncio.sleep(0.01)
    assert len(server.requests) == 1


async def test_a_server_error_shows_in_the_form_and_a_retry_sends_again() -> None:
    conflict = ConflictError(
        "Execution e1 is running, not awaiting_input <script>x</script>", status=409
    )
    server = Server(fail=conflict)
    form = ResumeForm({"question": "?"}, server.resume)
    form.submit.click()
    await finish(form, server)
    assert form.error is not None and "ConflictError: 409: Execution e1 is running" in form.error
    assert "&lt;script&gt;" in form.message.value and "<script>" not in form.message.value
    assert not form.submit.disabled and not form.done and form.submit.description == "Resume"
    server.fail = None
    form.submit.click()
    await finish(form, server)
    assert len(server.requests) == 2 and form.done


async def test_clicks_from_another_thread_hop_to_the_kernel_loop() -> None:
    server = Server()
    form = ResumeForm({"question": "?"}, server.resume)
    loop_thread = threading.get_ident()

    def subshell() -> None:  # ipykernel 7 may run widget callbacks on a subshell thread
        form.submit.click()
        form.submit.click()

    thread = threading.Thread(target=subshell)
    thread.start()
    thread.join(2)
    for _ in range(50):
        if form.pending is not None:
            break
        await asyncio.sleep(0.01)
    await finish(form, server)
    assert server.requests == [{}] and server.threads == [loop_thread]
