"""CreateBindingFunction, invoked through the template against moto."""

from __future__ import annotations

import re

CREATE = "CreateBindingFunction"
FETCH = "FetchBindingFunction"


def bindings_path(service_sid: str) -> str:
    return f"/v1/Services/{service_sid}/Bindings"


def test_given_a_new_address_when_created_then_201_with_twilio_binding_json(invoke, service_sid):
    reply = invoke(
        CREATE,
        bindings_path(service_sid),
        form=[
            ("Identity", "alice"),
            ("BindingType", "apn"),
            ("Address", "device-token-1"),
            ("Tag", "premium"),
            ("Tag", "beta"),
        ],
    )

    assert reply.status == 201
    body = reply.json()
    assert list(body) == [
        "sid", "account_sid", "service_sid", "credential_sid", "date_created", "date_updated",
        "notification_protocol_version", "endpoint", "identity", "binding_type", "address",
        "tags", "url", "links",
    ]  # fmt: skip
    assert re.fullmatch(r"BS[0-9a-f]{32}", body["sid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["date_created"])
    assert body["service_sid"] == service_sid
    assert body["tags"] == ["premium", "beta"]
    assert body["notification_protocol_version"] == "3"
    assert body["endpoint"] is None
    assert body["url"] == f"https://127.0.0.1{bindings_path(service_sid)}/{body['sid']}"
    assert body["links"]["user"] == f"https://127.0.0.1/v1/Services/{service_sid}/Users/alice"


def test_given_a_created_binding_when_fetched_by_sid_then_it_is_returned(invoke, service_sid):
    created = invoke(
        CREATE,
        bindings_path(service_sid),
        form={"Identity": "bob", "BindingType": "sms", "Address": "+15551230000"},
    ).json()

    fetched = invoke(FETCH, f"{bindings_path(service_sid)}/{created['sid']}")

    assert fetched.status == 200
    assert fetched.json() == created
