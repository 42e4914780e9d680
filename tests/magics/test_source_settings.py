"""``JulepMagics.sources`` and ``--source`` values, without a server: masking and refusals."""

from __future__ import annotations

import pytest

from julep_nb.magics.sources import mask_url, url_secret
from tests.magics.conftest import Shell

TOKEN = "sk-thand-0123456789abcd"
URL = f"thand+http://:{TOKEN}@thand.example.com:8080/api/v1"


def test_urls_are_shown_with_their_secret_masked() -> None:
    assert mask_url(URL) == "thand+http://:…abcd@thand.example.com:8080/api/v1"
    assert mask_url("temporal://127.0.0.1:7233/default") == "temporal://127.0.0.1:7233/default"
    assert mask_url(f"temporal://{TOKEN}@host:7233/ns") == "temporal://:…abcd@host:7233/ns"
    assert url_secret(URL) == TOKEN and url_secret("dev") is None


def test_the_sources_option_keeps_secrets_private(
    shell: Shell, caplog: pytest.LogCaptureFixture
) -> None:
    shell.run(f"%config JulepMagics.sources = {{'prod': {URL!r}}}")
    shown = shell.magics.sources
    assert shown == {"prod": mask_url(URL)}
    # Writing back what was read (plus a new name) keeps the real URL.
    shell.ns["shown"] = dict(shown)
    shell.run("%config JulepMagics.sources = {**shown, 'dev': 'temporal://h:1/d'}")
    assert shell.magics._source_urls == {"prod": URL, "dev": "temporal://h:1/d"}
    assert TOKEN not in repr(shell.run("%julep_exec config"))

    shell.run("%config JulepMagics.sources = {'x': 'https://:abcdefghijkl@host/'}")
    assert "sources['x']" in caplog.text and "not a source URL" in caplog.text  # %config logs it
    assert "abcdefghijkl" not in caplog.text
    assert shell.magics._source_urls["prod"] == URL  # a refused value changes nothing


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("%julep_exec list --source nope", "--source nope: not a source URL nor a configured"),
        ("%julep_exec status wf --source https://h/", "--source https://h/: not a source URL"),
        ("%julep_exec list --query \"WorkflowType = 'A'\" t", "--query filters a Temporal"),
        ("%julep_exec signal wf approve", "signal needs --source"),
        ("%julep_exec query wf status", "query needs --source"),
        ('%julep_exec signal wf go --payload {"a": } --source x', "value of --payload as JSON"),
    ],
)
def test_bad_source_lines_name_the_value(shell: Shell, line: str, expected: str) -> None:
    assert expected in shell.fails(line)
    assert len(shell.magics._sources) == 0  # nothing was connected


def test_a_secret_on_the_line_is_never_echoed(shell: Shell) -> None:
    secret = "supersecretvalue99"
    for line in (
        f"%julep_exec list --source=http://:{secret}@h:1/ --limit 0",
        f"%julep_exec list --source http://:{secret}@h:1/",
    ):
        message = shell.fails(line)
        assert secret not in message
