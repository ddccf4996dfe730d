"""Small helpers for handler tests: create bindings through the create function."""

from __future__ import annotations

from typing import Any

CREATE = "CreateBindingFunction"
FETCH = "FetchBindingFunction"
LIST = "ListBindingsFunction"
DELETE = "DeleteBindingFunction"


def bindings_path(service_sid: str) -> str:
    return f"/v1/Services/{service_sid}/Bindings"


def create(invoke: Any, service_sid: str, **form: Any) -> dict[str, Any]:
    fields = {"Identity": "alice", "BindingType": "apn", "Address": "token-1", **form}
    reply = invoke(CREATE, bindings_path(service_sid), form=fields)
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.json()
    return body
