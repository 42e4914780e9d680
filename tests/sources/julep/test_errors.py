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


def test_step_error_names_the_path() -> None:
    assert str(e.StepError("unknown step kind 'florp'", path="main[2]")) == (
        "main[2]: unknown step kind 'florp'"
    )


def test_input_error_is_a_value_error() -> None:
    assert issubclass(e.InputError, ValueError)
