"""The Users resource (ours): an identity of a Service and its bindings - fetched, listed, and
its bindings listed - through the template's functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from local_api.round_trips import counting
from notify_bindings import dependencies
from notify_bindings.dal.bindings.reads import ReadBudgets
from notify_bindings.dal.bindings.store import Limits
from tests.conftest import Invoker, new_account, new_service
from tests.handlers.helpers import (
    CREATE,
    DELETE,
    DELETE_USER,
    FETCH_USER,
    LIST,
    LIST_USER_BINDINGS,
    LIST_USERS,
    bindings_path,
    create,
    user_path,
    users_path,
)

USER_SID = re.compile(r"^US[0-9a-f]{32}$")


def follow(invoke: Invoker, function: str, url: str) -> dict[str, Any]:
    """The page a meta URL names, asked for as the client would."""
    parts = urlsplit(url)
    reply = invoke(function, parts.path, query=parse_qsl(parts.query))
    assert reply.status == 200, reply.body
    page: dict[str, Any] = reply.json()
    return page


def every_page(invoke: Invoker, function: str, path: str, **query: Any) -> list[dict[str, Any]]:
    reply = invoke(function, path, query=query)
    assert reply.status == 200, reply.body
    pages = [reply.json()]
    while pages[-1]["meta"]["next_page_url"]:
        assert len(pages) < 50, "a listing that does not end"
        pages.append(follow(invoke, function, pages[-1]["meta"]["next_page_url"]))
    return pages


def listed_identities(pages: list[dict[str, Any]]) -> list[str]:
    return [user["identity"] for page in pages for user in page["users"]]


# -- fetch -----------------------------------------------------------------------------------


def test_given_an_identity_with_bindings_when_its_links_user_is_fetched_then_the_user_with_its_count_dates_and_links(  # noqa: E501
    invoke, service_sid, account, monkeypatch
):
    identity = "alice smith/1"
    clock = {"now": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}
    monkeypatch.setattr(dependencies, "now", lambda: clock["now"])  # two creates, minutes apart
    first = create(invoke, service_sid, Identity=identity, Address="token-1")
    clock["now"] = datetime(2026, 1, 2, 3, 6, 7, tzinfo=UTC)
    second = create(
        invoke, service_sid, Identity=identity, Address="+15550001111", BindingType="sms"
    )
    monkeypatch.undo()
    create(invoke, service_sid, Identity="bob", Address="token-2")

    user_url = urlsplit(second["links"]["user"])
    reply = invoke(FETCH_USER, user_url.path)

    assert reply.status == 200, reply.body
    user = reply.json()
    assert user["identity"] == identity
    assert user["binding_count"] == 2
    assert (user["account_sid"], user["service_sid"]) == (account.sid, service_sid)
    assert (user["date_created"], first["date_created"]) == ("2026-01-02T03:04:05Z",) * 2
    assert (user["date_updated"], second["date_created"]) == ("2026-01-02T03:06:07Z",) * 2
    assert user["segments"] == []
    assert user["url"] == second["links"]["user"] == first["links"]["user"]
    assert user["links"] == {
        "bindings": f"{user['url']}/Bindings",
        "segment_memberships": f"{user['url']}/SegmentMemberships",
    }
    assert USER_SID.fullmatch(user["sid"])
    assert invoke(FETCH_USER, user_url.path).json()["sid"] == user["sid"]  # stable
    assert invoke(FETCH_USER, user_path(service_sid, "bob")).json()["sid"] != user["sid"]


def test_given_an_identity_that_has_no_bindings_when_its_user_is_fetched_then_404(
    invoke, service_sid
):
    deleted = create(invoke, service_sid, Identity="deleted", Address="token-1")
    assert invoke(DELETE, f"{bindings_path(service_sid)}/{deleted['sid']}").status == 204
    create(invoke, service_sid, Identity="moved-away", Address="token-2")
    create(invoke, service_sid, Identity="new-owner", Address="token-2")  # replaces it

    for identity in ("never-seen", "deleted", "moved-away"):
        reply = invoke(FETCH_USER, user_path(service_sid, identity))

        assert reply.status == 404, identity
        assert reply.json()["code"] == 20404
        assert reply.json()["message"] == (
            f"The requested resource /Services/{service_sid}/Users/{identity} was not found"
        )
    assert invoke(FETCH_USER, user_path(service_sid, "new-owner")).status == 200


def test_given_another_accounts_service_when_its_users_are_asked_for_then_404_for_each(
    invoke, service_sid
):
    create(invoke, service_sid, Identity="alice", Address="token-1")
    stranger = new_account().sid

    replies = [
        invoke(FETCH_USER, user_path(service_sid, "alice"), account=stranger),
        invoke(LIST_USERS, users_path(service_sid), account=stranger),
        invoke(LIST_USER_BINDINGS, f"{user_path(service_sid, 'alice')}/Bindings", account=stranger),
        invoke(DELETE_USER, user_path(service_sid, "alice"), account=stranger),
    ]

    assert [reply.status for reply in replies] == [404] * 4
    assert invoke(FETCH_USER, user_path(service_sid, "alice")).json()["binding_count"] == 1


@pytest.mark.parametrize(
    "segment",
    ["%FF", "%00", "a%0Ab", "e%CC%81", "%E2%80%AEabc", "x" * 257],
    ids=["not-utf8", "nul", "newline", "not-nfc", "bidi-control", "too-long"],
)
@pytest.mark.parametrize("function", [FETCH_USER, LIST_USER_BINDINGS, DELETE_USER])
def test_given_a_path_segment_no_identity_can_be_when_a_user_is_asked_for_then_404(
    invoke, service_sid, function, segment
):
    path = f"{users_path(service_sid)}/{segment}"
    if function == LIST_USER_BINDINGS:
        path += "/Bindings"

    reply = invoke(function, path)

    assert reply.status == 404, reply.body
    assert reply.json()["code"] == 20404


def test_given_no_proven_account_when_users_are_asked_for_then_401(invoke, service_sid):
    for function, path in [
        (FETCH_USER, user_path(service_sid, "alice")),
        (LIST_USERS, users_path(service_sid)),
        (LIST_USER_BINDINGS, f"{user_path(service_sid, 'alice')}/Bindings"),
        (DELETE_USER, user_path(service_sid, "alice")),
    ]:
        reply = invoke(function, path, account=None)
        assert (reply.status, reply.json()["code"]) == (401, 20003), function


# -- list ------------------------------------------------------------------------------------


def test_given_identities_when_users_are_listed_in_pages_then_each_once_in_order_without_emptied_ones(  # noqa: E501
    invoke, service_sid
):
    identities = ["erin", "alice", "dave", "bob", "carol"]
    for number, identity in enumerate(identities):
        create(invoke, service_sid, Identity=identity, Address=f"token-{number}")
    emptied = create(invoke, service_sid, Identity="bert", Address="token-bert")
    assert invoke(DELETE, f"{bindings_path(service_sid)}/{emptied['sid']}").status == 204

    pages = every_page(invoke, LIST_USERS, users_path(service_sid), PageSize=2)

    assert listed_identities(pages) == sorted(identities)
    assert [len(page["users"]) for page in pages] == [2, 2, 1]
    assert all(page["meta"]["key"] == "users" for page in pages)
    assert pages[0]["meta"]["previous_page_url"] is None
    back = follow(invoke, LIST_USERS, pages[1]["meta"]["previous_page_url"])
    assert [user["identity"] for user in back["users"]] == ["alice", "bob"]
    assert pages[1]["users"][0] == invoke(FETCH_USER, user_path(service_sid, "carol")).json()


def test_given_more_emptied_identities_than_a_page_skips_when_users_are_listed_then_pages_end_short_and_the_listing_is_whole(  # noqa: E501
    invoke, service_sid, store_limits
):
    store_limits(Limits(reads=ReadBudgets(emptied_users=3)))
    live = ["a-live", "z-live"]
    for number, identity in enumerate(live):
        create(invoke, service_sid, Identity=identity, Address=f"token-{number}")
    for number in range(12):  # between the two, in identity order
        emptied = create(
            invoke, service_sid, Identity=f"m-emptied-{number:02}", Address=f"e-{number}"
        )
        assert invoke(DELETE, f"{bindings_path(service_sid)}/{emptied['sid']}").status == 204

    pages = every_page(invoke, LIST_USERS, users_path(service_sid), PageSize=2)

    # Each page read at most 3 records beyond a page and the one after it: 6; those that met
    # more emptied records ended short, one of them empty, and carried on after them.
    assert listed_identities(pages) == live
    assert [len(page["users"]) for page in pages] == [1, 0, 1]
    assert all(page["meta"]["next_page_url"] for page in pages[:-1])


def test_given_a_users_page_token_when_altered_or_used_on_another_service_then_400(
    invoke, service_sid, account
):
    for number, identity in enumerate(["alice", "bob"]):
        create(invoke, service_sid, Identity=identity, Address=f"token-{number}")
    other = new_service(account.sid)
    first = invoke(LIST_USERS, users_path(service_sid), query={"PageSize": 1}).json()
    token = dict(parse_qsl(urlsplit(first["meta"]["next_page_url"]).query))["PageToken"]
    binding_token = invoke(LIST, bindings_path(service_sid), query={"PageSize": 1}).json()["meta"][
        "next_page_url"
    ]
    binding_token = dict(parse_qsl(urlsplit(binding_token).query))["PageToken"]

    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for path, given in [
        (users_path(service_sid), altered),
        (users_path(other), token),
        (users_path(service_sid), binding_token),  # a Bindings list's token
    ]:
        reply = invoke(LIST_USERS, path, query={"PageSize": 1, "PageToken": given})
        assert (reply.status, reply.json()["code"]) == (400, 20001), given
    assert invoke(LIST_USERS, users_path(service_sid), query={"PageToken": token}).status == 200


# -- an identity's bindings ------------------------------------------------------------------


def test_given_an_identitys_bindings_when_listed_under_its_user_then_only_its_bindings_with_the_lists_filters_and_urls(  # noqa: E501
    invoke, service_sid
):
    mine = [
        create(invoke, service_sid, Identity="alice/1", Address=f"token-{n}", Tag=tags)
        for n, tags in enumerate([["news"], ["news", "vip"], []])
    ]
    create(invoke, service_sid, Identity="bob", Address="token-bob", Tag=["news"])
    path = f"{user_path(service_sid, 'alice/1')}/Bindings"

    pages = every_page(invoke, LIST_USER_BINDINGS, path, PageSize=1)
    tagged = invoke(LIST_USER_BINDINGS, path, query={"Tag": "news"}).json()
    by_address = invoke(LIST_USER_BINDINGS, path, query={"Address": "token-1"}).json()
    by_identity = invoke(LIST, bindings_path(service_sid), query={"Identity": "alice/1"}).json()

    assert [b["sid"] for page in pages for b in page["bindings"]] == [b["sid"] for b in mine]
    assert pages[0]["meta"]["url"].startswith(f"https://127.0.0.1{path}?")
    assert pages[0]["meta"]["key"] == "bindings"
    assert [b["sid"] for b in tagged["bindings"]] == [mine[0]["sid"], mine[1]["sid"]]
    assert "Tag=news" in tagged["meta"]["url"]
    assert [b["sid"] for b in by_address["bindings"]] == [mine[1]["sid"]]
    assert by_identity["bindings"] == [b for page in pages for b in page["bindings"]]


def test_given_an_identity_without_bindings_when_its_bindings_are_listed_then_404(
    invoke, service_sid
):
    create(invoke, service_sid, Identity="alice", Address="token-1")

    reply = invoke(LIST_USER_BINDINGS, f"{user_path(service_sid, 'bob')}/Bindings")

    assert (reply.status, reply.json()["code"]) == (404, 20404)
    filtered = invoke(
        LIST_USER_BINDINGS, f"{user_path(service_sid, 'alice')}/Bindings", query={"Tag": "none"}
    )
    assert (filtered.status, filtered.json()["bindings"]) == (200, [])


def test_given_a_page_token_of_one_users_bindings_when_used_for_another_users_then_400(
    invoke, service_sid
):
    for number in range(2):
        create(invoke, service_sid, Identity="alice", Address=f"alice-{number}")
        create(invoke, service_sid, Identity="bob", Address=f"bob-{number}")
    alices = f"{user_path(service_sid, 'alice')}/Bindings"
    first = invoke(LIST_USER_BINDINGS, alices, query={"PageSize": 1}).json()
    query = parse_qsl(urlsplit(first["meta"]["next_page_url"]).query)

    reply = invoke(LIST_USER_BINDINGS, f"{user_path(service_sid, 'bob')}/Bindings", query=query)

    assert (reply.status, reply.json()["code"]) == (400, 20001)
    assert invoke(LIST_USER_BINDINGS, alices, query=query).status == 200


def test_given_a_create_when_it_returns_then_its_user_shows_it_at_once(invoke, service_sid):
    for number in range(3):
        created = create(invoke, service_sid, Identity="alice", Address=f"token-{number}")

        user = invoke(FETCH_USER, user_path(service_sid, "alice")).json()
        listed = invoke(LIST_USER_BINDINGS, f"{user_path(service_sid, 'alice')}/Bindings").json()

        assert user["binding_count"] == number + 1
        assert listed["bindings"][-1]["sid"] == created["sid"]
    assert invoke(CREATE, bindings_path(service_sid), form={}).status == 400


def test_given_a_user_when_fetched_or_its_bindings_listed_then_one_round_trip_and_a_users_page_two(
    invoke, service_sid
):
    for number in range(3):
        create(invoke, service_sid, Identity=f"user-{number}", Address=f"token-{number}")

    with counting(dependencies.dynamodb()) as fetch_trips:
        assert invoke(FETCH_USER, user_path(service_sid, "user-1")).status == 200
    with counting(dependencies.dynamodb()) as bindings_trips:
        path = f"{user_path(service_sid, 'user-1')}/Bindings"
        assert invoke(LIST_USER_BINDINGS, path).status == 200
    with counting(dependencies.dynamodb()) as page_trips:
        page = invoke(LIST_USERS, users_path(service_sid), query={"PageSize": 2}).json()

    assert len(page["users"]) == 2
    assert fetch_trips.by_operation == {"BatchGetItem": 1}, fetch_trips
    assert bindings_trips.by_operation == {"BatchGetItem": 1}, bindings_trips
    assert page_trips.by_operation == {"BatchGetItem": 1, "Query": 1}, page_trips
