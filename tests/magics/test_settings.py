"""Configuration, the embedded server notice, and the API key that is never shown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from julep_nb.magics.results import SettingsView
from julep_nb.sources.julep.config import ENVIRONMENTS
from tests.faults import closed_port_url
from tests.magics.conftest import TASK_HELLO, Shell, counting_proxy

if TYPE_CHECKING:
    from julep_nb.local.server import LocalServer

KEY = "sk-julep-TESTKEY-9f8e7d6c5b4a"


def test_config_traits_and_percent_config(julep: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    julep.run("%config JulepMagics.timeline_limit = 7")
    julep.run("%julep_exec config refresh_rate=2.5 panel=html auto_local=false")
    magics = julep.magics
    assert (magics.timeline_limit, magics.refresh_rate, magics.panel) == (7, 2.5, "html")
    assert magics.auto_local is False
    view = julep.run("%julep_exec config")
    assert isinstance(view, SettingsView)
    assert view["timeline_limit"] == 7
    assert view["source"] == "base_url"
    julep.run("%config JulepMagics")
    listing = capsys.readouterr().out
    for trait in ("base_url", "environment", "api_key", "panel", "refresh_rate",
                  "timeline_limit", "auto_local", "agent_id"):  # fmt: skip
        assert f"JulepMagics.{trait}" in listing


def test_config_file_settings_apply_and_survive_a_reload(shell: Shell) -> None:
    shell.ip.config.JulepMagics.panel = "html"  # as in ipython_config.py
    shell.ip.config.JulepMagics.api_key = KEY
    shell.run("%reload_ext julep_nb")
    magics = shell.magics
    assert magics.panel == "html"
    assert magics.api_key == "…" + KEY[-4:]
    assert magics.settings().api_key == KEY  # kept privately, used for requests
    assert sum(c is magics for c in shell.ip.configurables) == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%config JulepMagics.panel = 'fancy'", "panel"),
        ("%julep_exec config refresh_rate=0", "refresh_rate must be > 0"),
        ("%julep_exec config timeline_limit=0", "timeline_limit must be at least 1"),
        ("%julep_exec config colour=red", "Unknown option 'colour'"),
        ("%julep_exec config environment=mars", "environment"),
    ],
)
def test_bad_settings_are_refused(julep: Shell, line: str, message: str) -> None:
    if line.startswith("%config"):
        julep.run(line)  # %config reports trait errors itself, without raising
        assert julep.magics.panel == "none"
    else:
        assert message in julep.fails(line)


def test_environment_and_env_vars_apply(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JULEP_BASE_URL", "http://127.0.0.1:9")
    assert shell.run("%julep_exec config")["base_url"] == "http://127.0.0.1:9"
    # An environment chosen in the notebook is explicit, so it wins over the variable.
    shell.run("%config JulepMagics.environment = 'dev'")
    assert shell.run("%julep_exec config")["base_url"] == ENVIRONMENTS["dev"]
    shell.run("%config JulepMagics.base_url = 'http://127.0.0.1:10'")
    assert shell.run("%julep_exec config")["base_url"] == "http://127.0.0.1:10"


def test_client_is_rebuilt_when_settings_change(julep: Shell, local_server: LocalServer) -> None:
    first = julep.magics.client()
    assert julep.magics.client() is first
    julep.run("%config JulepMagics.base_url = 'http://127.0.0.1:9'")
    second = julep.magics.client()
    assert second is not first
    assert second.base_url == "http://127.0.0.1:9"


def test_embedded_server_starts_with_one_line(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    task = shell.run(f"%%julep_task\n{TASK_HELLO}")
    shell.run(f"%julep_exec list {task.id}")
    out = capsys.readouterr().out
    notices = [line for line in out.splitlines() if "embedded local server" in line]
    assert len(notices) == 1, out
    notice = notices[0]
    assert "http://127.0.0.1:" in notice
    assert "JULEP_API_KEY" in notice and "%config JulepMagics.base_url" in notice
    assert "(embedded local server)" in shell.run("%julep_exec config")["base_url"]


def test_auto_local_off_is_a_clear_error(shell: Shell) -> None:
    shell.run("%config JulepMagics.auto_local = False")
    message = shell.fails(f"%%julep_task\n{TASK_HELLO}")
    assert "No Julep server is configured" in message
    assert "JULEP_API_KEY" in message and "auto_local = True" in message


# ---------------------------------------------------------------------- nothing sent


def test_bad_bodies_send_nothing(shell: Shell, local_server: LocalServer) -> None:
    with counting_proxy(local_server.base_url) as proxy:
        shell.run(f"%config JulepMagics.base_url = {proxy.base_url!r}")
        shell.run("%config JulepMagics.panel = 'none'")
        shell.run(f"%%julep_task\n{TASK_HELLO}")
        sent = len(proxy.requests)
        assert sent > 0  # the proxy does see what the magics send

        message = shell.fails("%%julep_exec hello\nname: Ada\n  oops: 1\n")
        assert "line 2, column 7" in message
        message = shell.fails('%%julep_exec hello\n{"name": "Ada",,}\n')
        assert "as JSON: line 1, column 16" in message
        shell.fails('%julep_exec hello --input {"name": }')
        shell.fails("%julep_exec hello --metadata [1]")
        shell.fails("%%julep_task\nname: broken\nmain: [\n")
        shell.fails("%%julep_exec resume some-id\n- not\n- a mapping\n")
        assert len(proxy.requests) == sent

        shell.run("%%julep_exec hello\nname: Ada\n")
        assert len(proxy.requests) > sent


# ---------------------------------------------------------------------- the key


def _visible(shell: Shell, out: str) -> str:
    """Everything a user can see: printed text, displayed bundles, reprs of results."""
    parts = [out]
    parts += [str(bundle) for bundle in shell.published()]
    hidden = ("In", "_ih", "_i", "_ii", "_iii", "exit", "quit", "get_ipython")
    for name, value in shell.ns.items():
        if name in hidden or name.startswith("_i"):
            continue  # the user's own source lines
        parts.append(repr(value))
        parts.append(str(getattr(value, "_repr_html_", lambda: "")()))
        bundle: Any = getattr(value, "_repr_mimebundle_", None)
        if callable(bundle):
            parts.append(str(bundle()))
    return "\n".join(parts)


def test_the_key_never_shows_even_in_errors(
    shell: Shell, local_server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run(f"%config JulepMagics.base_url = {local_server.base_url!r}")
    shell.run(f"%config JulepMagics.api_key = {KEY!r}")
    shell.run("%config JulepMagics.panel = 'html'")
    shell.run("%config JulepMagics")
    shell.run("shown = %config JulepMagics.api_key")
    assert shell.ns["shown"] == "…" + KEY[-4:]
    shell.run("settings = %julep_exec config")
    assert shell.ns["settings"]["api_key"] == "…" + KEY[-4:]
    shell.run(f"%%julep_task -o task\n{TASK_HELLO}")
    shell.run("%%julep_exec hello -o h --wait\nname: Key\n")
    shell.run("h")
    shell.run("state = await h")
    shell.run("state")
    shell.run("status = %julep_exec status {h.id}".replace("{h.id}", shell.ns["h"].id))
    shell.fails("%julep_exec status 00000000-0000-4000-8000-000000000000")
    down = closed_port_url()
    shell.run(f"%config JulepMagics.base_url = {down!r}")
    network_error = shell.fails("%julep_exec status whatever")
    assert f"Could not reach the Julep server at {down}" in network_error
    captured = capsys.readouterr()
    visible = _visible(shell, captured.out + captured.err)
    assert "…" + KEY[-4:] in visible  # the masked form is what shows
    assert KEY not in visible
    assert KEY[:-4] not in visible
    assert KEY not in repr(shell.magics.client()) and KEY not in repr(shell.magics.settings())
