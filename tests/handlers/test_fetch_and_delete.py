"""FetchBindingFunction and DeleteBindingFunction."""

from __future__ import annotations

import pytest

from tests.handlers.helpers import DELETE, FETCH, bindings_path, create


def test_given_a_binding_when_deleted_then_204_and_gone_immediately(invoke, service_sid):
    binding = create(invoke, service_sid)
    path = f"{bindings_path(service_sid)}/{binding['sid']}"

    deleted = invoke(DELETE, path)

    assert deleted.status == 204
    assert deleted.body == ""
    assert invoke(FETCH, path).status == 404
    assert invoke(DELETE, path).status == 404


@pytest.mark.parametrize(
    "sid",
    ["BS" + "0" * 32, "BS123", "BS" + "A" * 32, "XX" + "0" * 32, "%2e%2e"],
)
def test_given_an_unknown_or_malformed_sid_then_404_20404(invoke, service_sid, sid):
    for function in (FETCH, DELETE):
        reply = invoke(function, f"{bindings_path(service_sid)}/{sid}")

        assert reply.status == 404
        assert reply.json()["code"] == 20404
        assert reply.json()["message"] == (
            f"The requested resource /Services/{service_sid}/Bindings/{sid} was not found"
        )


def test_given_a_binding_of_another_service_when_fetched_then_404(invoke, service_sid):
    binding = create(invoke, service_sid)
    other_service = "IS" + "f" * 32

    reply = invoke(FETCH, f"{bindings_path(other_service)}/{binding['sid']}")

    assert reply.status == 404


def test_given_a_malformed_service_sid_then_404(invoke):
    reply = invoke(FETCH, "/v1/Services/ISnope/Bindings/" + "BS" + "0" * 32)

    assert reply.status == 404
    assert reply.json()["code"] == 20404
