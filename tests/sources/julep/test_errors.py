"""The error tree: one base class, status mapping, messages without secrets."""

from __future__ import annotations

import pytest

from julep_nb.sources.julep import errors as e


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, e.ValidationError),
        (401, e.AuthError),
        (403, e.AuthError),
        (404, e.NotFoundError),
        (409, e.ConflictError),
        (422, e.ValidationError),
        (429, e.RateLimitError),
        (500, e.ServerError),
        (503, e.ServerError),
        (418, e.APIError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[e.APIError]) -> None:
    assert e.error_for_status(status) is cls


def test_every_error_is_a_julep_error() -> None:
    for name in e.__all__:
        obj = getattr(e, name)
        if isinstance(obj, type):
            assert issubclass(obj, e.JulepError), name


def test_api_error_str_names_status_message_and_url() -> None:
    err = e.NotFoundError("Execution 'x' not found", status=404, url="http://h/executions/x")
    assert str(err) == "404: Execution 'x' not found (http://h/executions/x)"
    assert err.status == 404


def test_the_errors_a_watcher_acts_on_are_the_live_layers() -> None:
    """Any source's failures reach the watcher as the neutral SourceError tree."""
    from julep_nb.live import errors as live

    assert issubclass(e.AuthError, live.SourceUnauthorized)
    assert issubclass(e.NotFoundError, live.SourceNotFound)
    assert issubclass(e.ConflictError, live.ActionRefused)
    for transient in (e.TransportError, e.ServerError, e.RateLimitError):
        assert issubclass(transient, live.SourceUnreachable)
    assert issubclass(e.StreamError, live.StreamBroken)


def test_input_error_is_a_value_error() -> None:
    assert issubclass(e.InputError, ValueError)
