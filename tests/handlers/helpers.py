"""Small helpers for handler tests: create bindings through the create function."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

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


FETCH_USER = "FetchUserFunction"
LIST_USERS = "ListUsersFunction"
LIST_USER_BINDINGS = "ListUserBindingsFunction"
DELETE_USER = "DeleteUserFunction"


def users_path(service_sid: str) -> str:
    return f"/v1/Services/{service_sid}/Users"


def user_path(service_sid: str, identity: str) -> str:
    """The path of the identity's User, percent-encoded as `links.user` has it."""
    return f"{users_path(service_sid)}/{quote(identity, safe='')}"
