"""A recognisable API key never leaks: outputs, widget state, notebooks, logs, errors, reprs.

The magics run against a keyed local server with every logger at DEBUG (httpx and
httpcore included); then every place a key could end up is searched for it. The
server refuses a public bind without a key, and every wrong key of the right
length fails the same way (a constant-time comparison leaves no shortcut).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import nbformat
import pytest
from IPython.core.error import UsageError

from julep_nb.local import start
from julep_nb.local.errors import ServerConfigError
from julep_nb.local.server import LocalServer, main
from julep_nb.sources.julep.client import Client
from julep_nb.sources.julep.errors import AuthError, JulepError
from tests.magics.conftest import Shell

KEY = "sk-RELIABILITY-SECRET-7f3a9c2e5b1d4e6f"
TASK = """\
name: secretive
main:
  - evaluate:
      greeting: $ "hi " + _.name
  - wait_for_input:
      info: {question: "more?"}
  - return: {done: $ _.more}
"""


@pytest.fixture
def keyed() -> Iterator[LocalServer]:
    server = start(port=0, db=":memory:", api_key=KEY)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # root: julep_nb, httpx, httpcore, uvicorn, asyncio
    return caplog


def _texts(value: Any) -> list[str]:
    """Everything a user could see of ``value``: str, repr, display bundles."""
    out = [str(value), repr(value)]
    for method in ("_repr_html_", "_repr_mimebundle_"):
        render = getattr(value, method, None)
        if render is not None:
            out.append(json.dumps(render(), default=str))
    return out


def test_magics_never_show_the_key_anywhere(
    shell: Shell, keyed: LocalServer, everything_logged: pytest.LogCaptureFixture
) -> None:
    shell.run(f"%config JulepMagics.base_url = {keyed.base_url!r}")
    shell.run(f"%config JulepMagics.api_key = {KEY!r}")
    shell.run("%config JulepMagics.panel = 'html'")
    seen: list[str] = []
    task = shell.run(f"%%julep_task -o t\n{TASK}")
    handle = shell.run('%%julep_exec secretive -o h\n{"name": "Ada"}\n')
    shell.until(lambda: handle.status.value == "awaiting_input")
    shell.run(f'%julep_exec resume {handle.id} --input {{"more": 1}}')
    shell.run("state = await h")
    for value in (
        task,
        handle,
        shell.ns["state"],
        shell.run(f"%julep_exec status {handle.id}"),
        shell.run(f"%julep_exec list {task.id}"),
        shell.run(f"%julep_exec transitions {handle.id}"),
        shell.run("%julep_exec config"),
        shell.run("%config JulepMagics"),
        shell.run("JulepMagics_key = get_ipython()._julep_magics.api_key"),
        shell.ns.get("JulepMagics_key"),
        shell.magics,
        handle.source.client,
        keyed,
    ):
        seen += _texts(value)
    # Refusals: a wrong key, then an unknown execution; their messages are shown to users.
    shell.run(f"%config JulepMagics.api_key = {KEY[:-4] + 'XXXX'!r}")
    for cell in (f"%julep_exec status {handle.id}", "%julep_exec status nope"):
        with pytest.raises((UsageError, JulepError)) as info:
            shell.run(cell)
        seen.append(str(info.value))
        assert "401" in str(info.value) or "403" in str(info.value) or "key" in str(info.value)
    assert shell.ns["state"].output == {"done": 1}

    outputs = [nbformat.v4.new_output("display_data", data=d) for d in shell.published()]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("…", outputs=outputs)])
    seen.append(nbformat.writes(notebook))
    seen += [record.getMessage() for record in everything_logged.records]
    seen += [str(record.args) for record in everything_logged.records]
    assert outputs and everything_logged.records  # the search covered something
    leaks = [text[:200] for text in seen if KEY in text or KEY[-12:] in text]
    assert leaks == []


async def test_client_errors_and_reprs_never_hold_the_key(
    keyed: LocalServer, everything_logged: pytest.LogCaptureFixture
) -> None:
    wrong = KEY[:-1] + "Z"
    texts: list[str] = []
    for key in (wrong, KEY):
        async with Client(base_url=keyed.base_url, api_key=key) as client:
            texts += _texts(client) + _texts(client.settings)
            try:
                await client.get_execution("00000000-0000-4000-8000-000000000000")
            except JulepError as exc:
                texts += [str(exc), repr(exc), repr(exc.__dict__)]
    texts += [r.getMessage() for r in everything_logged.records]
    assert not [t for t in texts if KEY in t or wrong in t or KEY[-12:] in t]


def test_wrong_keys_of_the_same_length_all_fail(keyed: LocalServer) -> None:
    """Whatever a wrong key shares with the right one, the answer is the same 403."""
    near = [
        "X" + KEY[1:],  # first byte wrong
        KEY[:-1] + "X",  # last byte wrong
        KEY[: len(KEY) // 2] + "X" * (len(KEY) - len(KEY) // 2),  # right first half
        "X" * len(KEY),
        KEY.upper() if KEY.upper() != KEY else KEY.lower(),
        KEY[::-1],
    ]
    different_lengths = [KEY[:-1], KEY + "X", KEY[:1], KEY * 2]
    with httpx.Client(base_url=keyed.base_url, timeout=5) as http:
        answers = {
            key: http.get("/agents/x/tasks", headers={"Authorization": f"Bearer {key}"})
            for key in near + different_lengths
        }
        good = http.get("/agents/x/tasks", headers={"X-Auth-Key": KEY})
    assert {key: r.status_code for key, r in answers.items()} == dict.fromkeys(answers, 403)
    assert len({r.text for r in answers.values()}) == 1  # no hint in the body either
    assert all(KEY not in r.text for r in answers.values())
    assert good.status_code != 403


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_a_public_bind_without_a_key_is_refused(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ServerConfigError, match="without an API key"):
        start(port=0, host=host)
    assert main(["serve", "--host", host, "--port", "0", "--db", ":memory:"]) == 2
    assert "without an API key" in capsys.readouterr().err


def test_auth_error_type_for_a_wrong_key(keyed: LocalServer) -> None:
    import asyncio

    async def attempt() -> None:
        async with Client(base_url=keyed.base_url, api_key="nope") as client:
            await client.create_agent(name="x")

    with pytest.raises(AuthError) as info:
        asyncio.run(attempt())
    assert "nope" not in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01_quickstart.ipynb", "02_human_in_the_loop.ipynb"])
def test_notebooks_run_with_a_key_never_save_it(
    name: str, keyed: LocalServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped notebooks, run in a real kernel against a keyed server, keep no key."""
    from pathlib import Path

    from julep_nb.notebook_demo import execute_notebook

    monkeypatch.setenv("JULEP_BASE_URL", keyed.base_url)
    monkeypatch.setenv("JULEP_API_KEY", KEY)  # the kernel inherits the environment
    src = Path(__file__).resolve().parents[2] / "notebooks" / name
    saved = execute_notebook(src, tmp_path / name, timeout=120)
    text = saved.read_text()
    assert KEY not in text and KEY[-12:-4] not in text
    nb = nbformat.read(saved, as_version=4)
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert "succeeded" in text  # it really ran against the keyed server (no key: 401)
