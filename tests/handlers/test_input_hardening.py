"""Input that once slipped past the request models, through the template's functions: keys over
DynamoDB's byte limits (a 500), explicit tags named like the implicit ones, invisible code
points that make two identifiers of one, identities that are dot segments, and pages asked for
by number."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.handlers.helpers import (
    CREATE,
    FETCH_USER,
    LIST,
    LIST_USER_BINDINGS,
    LIST_USERS,
    bindings_path,
    create,
    user_path,
    users_path,
)

REPORT = "ReportDeadTokenFunction"
LIST_SERVICES = "ListServicesFunction"
LIST_CREDENTIALS = "ListCredentialsFunction"
# Within 512 characters, over the 1,024 bytes DynamoDB allows a sort key.
WIDE_ADDRESSES = ["中" * 342, "😀" * 257]


def refusal(reply: Any, name: str) -> str:
    assert reply.status == 400, reply.body
    body = reply.json()
    assert body["code"] == 20001
    message: str = body["message"]
    assert message.startswith(f"Parameter '{name}' is invalid"), message
    return message


@pytest.mark.parametrize("address", WIDE_ADDRESSES, ids=["cjk", "emoji"])
def test_given_an_address_over_1024_bytes_when_created_then_400_stating_the_limit(
    invoke, service_sid, address
):
    form = {"Identity": "alice", "BindingType": "apn", "Address": address}

    reply = invoke(CREATE, bindings_path(service_sid), form=form)

    assert "at most 1024 bytes" in refusal(reply, "Address")
    assert invoke(LIST, bindings_path(service_sid)).json()["bindings"] == []


@pytest.mark.parametrize("address", WIDE_ADDRESSES, ids=["cjk", "emoji"])
def test_given_an_address_over_1024_bytes_as_a_filter_or_a_dead_token_then_400(
    invoke, service_sid, address
):
    listed = invoke(LIST, bindings_path(service_sid), query={"Address": address})
    reported = invoke(REPORT, f"/v1/Services/{service_sid}/DeadTokens", form={"Address": address})

    assert "at most 1024 bytes" in refusal(listed, "Address")
    assert "at most 1024 bytes" in refusal(reported, "Address")


@pytest.mark.parametrize("tag", ["all", "sms", "apn", "facebook-messenger"])
def test_given_an_explicit_tag_named_like_an_implicit_one_when_created_then_400_and_not_stored(
    invoke, service_sid, tag
):
    form = {"Identity": "alice", "BindingType": "apn", "Address": "token-1", "Tag": tag}

    reply = invoke(CREATE, bindings_path(service_sid), form=form)

    assert "reserved" in refusal(reply, "Tag")
    assert invoke(LIST, bindings_path(service_sid), query={"Tag": tag}).json()["bindings"] == []


def test_given_implicit_tags_as_filters_then_they_still_select_by_binding_type(invoke, service_sid):
    push = create(invoke, service_sid, Address="token-1", Tag="news")
    create(invoke, service_sid, BindingType="sms", Address="+15550001111")

    listed = invoke(LIST, bindings_path(service_sid), query={"Tag": "apn"}).json()

    assert [binding["sid"] for binding in listed["bindings"]] == [push["sid"]]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Identity", "alice\u200b"),
        ("Identity", "\ufeffalice"),
        ("Identity", "ali\u00adce"),
        ("Identity", "\u3164"),
        ("Tag", "news\U000e0041"),
        ("Tag", "news\u2028"),
        ("Address", "token\u200b-1"),
        ("Address", "token\u00a0-1"),
        ("Address", "token\uffff"),
    ],
)
def test_given_an_invisible_code_point_when_created_then_400_and_alice_stays_one_user(
    invoke, service_sid, name, value
):
    create(invoke, service_sid, Identity="alice", Address="token-0")
    form = {"Identity": "alice", "BindingType": "apn", "Address": "token-1", name: value}

    reply = invoke(CREATE, bindings_path(service_sid), form=form)

    assert "must not contain" in refusal(reply, name)
    users = invoke(LIST_USERS, users_path(service_sid)).json()["users"]
    assert [(user["identity"], user["binding_count"]) for user in users] == [("alice", 1)]


def test_given_an_invisible_identity_in_a_users_path_then_404(invoke, service_sid):
    create(invoke, service_sid, Identity="alice", Address="token-0")

    assert invoke(FETCH_USER, user_path(service_sid, "alice\u200b")).status == 404


@pytest.mark.parametrize("identity", [".", ".."])
def test_given_a_dot_segment_identity_then_links_user_encodes_it_and_resolves(
    invoke, service_sid, identity
):
    binding = create(invoke, service_sid, Identity=identity, Address="token-1")
    link = urlsplit(binding["links"]["user"])

    assert link.path.endswith("/Users/" + "%2E" * len(identity))
    user = invoke(FETCH_USER, link.path)
    assert user.status == 200, user.body
    assert user.json()["identity"] == identity
    assert user.json()["url"] == binding["links"]["user"]
    listed = invoke(LIST_USER_BINDINGS, link.path + "/Bindings").json()
    assert [found["sid"] for found in listed["bindings"]] == [binding["sid"]]


@pytest.mark.parametrize(
    ("function", "path"),
    [
        (LIST, "/v1/Services/{service}/Bindings"),
        (LIST_USERS, "/v1/Services/{service}/Users"),
        (LIST_USER_BINDINGS, "/v1/Services/{service}/Users/alice/Bindings"),
        (LIST_SERVICES, "/v1/Services"),
        (LIST_CREDENTIALS, "/v1/Credentials"),
    ],
    ids=["bindings", "users", "user bindings", "services", "credentials"],
)
def test_given_a_page_number_without_its_token_then_400_not_the_first_page_relabelled(
    invoke, service_sid, function, path
):
    create(invoke, service_sid, Identity="alice", Address="token-0")
    path = path.format(service=service_sid)

    assert "PageToken" in refusal(invoke(function, path, query={"Page": "3"}), "Page")
    assert invoke(function, path, query={"Page": "0"}).status == 200


@pytest.mark.parametrize("value", ["5_0", "+5", " 5", "1.0", "\u0665"])
def test_given_a_page_size_not_in_plain_ascii_digits_then_400(invoke, service_sid, value):
    reply = invoke(LIST, bindings_path(service_sid), query={"PageSize": value})
    credentials = invoke(LIST_CREDENTIALS, "/v1/Credentials", query={"PageSize": value})

    assert "valid integer" in refusal(reply, "PageSize")
    assert "valid integer" in refusal(credentials, "PageSize")
