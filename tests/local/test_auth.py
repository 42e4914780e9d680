"""API keys: which requests need one, Julep's 401/403 bodies, and the key never leaks."""

from __future__ import annotations

import httpx
import pytest

from julep_nb.local import start
from julep_nb.local.errors import ServerConfigError
from julep_nb.local.server import LocalServer, is_loopback

from .conftest import API_KEY


async def test_requests_without_the_key_are_refused(keyed_server: LocalServer) -> None:
    async with httpx.AsyncClient(base_url=keyed_server.base_url, timeout=5) as http:
        missing = await http.get("/openapi.json")
        wrong = await http.post("/agents", json={"name": "x"}, headers={"X-Auth-Key": "nope"})
        wrong_bearer = await http.get("/agents/x", headers={"Authorization": "Bearer nope"})
        health = await http.get("/healthz")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "http_401"
    assert "Authorization: Bearer" in missing.json()["error"]["message"]
    assert missing.headers["www-authenticate"] == "Bearer"
    for response in (wrong, wrong_bearer):
        assert response.status_code == 403
        assert response.json() == {
            "error": {
                "message": "Could not validate API KEY",
                "code": "http_403",
                "type": "http_error",
            }
        }
    assert health.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {API_KEY}"},
        {"X-Auth-Key": API_KEY},
        {"X-Auth-Key": f"Bearer {API_KEY}"},
    ],
)
async def test_either_header_carries_the_key(
    keyed_server: LocalServer, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=keyed_server.base_url, headers=headers) as http:
        created = await http.post("/agents", json={"name": "x"})
        missing = await http.get("/executions/nope/status.stream")
    assert created.status_code == 201
    assert missing.status_code == 404


def test_the_key_never_appears_in_reprs_or_error_text(keyed_server: LocalServer) -> None:
    assert API_KEY not in repr(keyed_server)
    assert "api_key=set" in repr(keyed_server)
    with httpx.Client(base_url=keyed_server.base_url) as http:
        bodies = [
            http.get("/agents/x", headers={"X-Auth-Key": API_KEY[:-1]}).text,
            http.get("/agents/x", headers={"X-Auth-Key": API_KEY}).text,
        ]
    assert all(API_KEY not in body for body in bodies)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com", "::"])
def test_a_non_loopback_host_needs_a_key(host: str) -> None:
    with pytest.raises(ServerConfigError, match="without an API key"):
        start(host=host)


def test_loopback_detection() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["0.0.0.0", "10.0.0.1", "julep.example"]))


def test_a_non_loopback_host_with_a_key_starts() -> None:
    with start(host="0.0.0.0", api_key=API_KEY) as server:
        port = server.port
        with httpx.Client(timeout=5) as http:
            health = http.get(f"http://127.0.0.1:{port}/healthz")
            refused = http.get(f"http://127.0.0.1:{port}/agents/x")
    assert (health.status_code, refused.status_code) == (200, 401)
