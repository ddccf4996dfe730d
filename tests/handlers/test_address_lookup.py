"""Lookup by address (ours): GET .../Bindings?Address=... answers the binding at that address, or
an empty page - one read, since the address is the bindings table's key - and combines with
the other filters by AND."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from local_api.round_trips import counting
from notify_bindings import dependencies
from tests.conftest import new_account, new_service
from tests.handlers.helpers import DELETE, LIST, bindings_path, create


def listed(invoke, service_sid: str, **query) -> list[str]:
    reply = invoke(LIST, bindings_path(service_sid), query=query)
    assert reply.status == 200, reply.body
    return [binding["sid"] for binding in reply.json()["bindings"]]


def test_given_bindings_when_listed_by_an_address_then_only_the_binding_there_in_one_round_trip(
    invoke, service_sid
):
    create(invoke, service_sid, Identity="alice", Address="token-1")
    wanted = create(invoke, service_sid, Identity="bob", Address="+15550001111", BindingType="sms")

    with counting(dependencies.dynamodb()) as trips:
        reply = invoke(LIST, bindings_path(service_sid), query={"Address": "+15550001111"})

    body = reply.json()
    assert reply.status == 200, reply.body
    assert body["bindings"] == [wanted]
    assert trips.by_operation == {"BatchGetItem": 1}, trips  # the Service and the address item
    assert "Address=%2B15550001111" in body["meta"]["url"]
    assert body["meta"]["next_page_url"] is None


def test_given_no_binding_at_an_address_when_listed_by_it_then_an_empty_page(invoke, service_sid):
    deleted = create(invoke, service_sid, Identity="alice", Address="token-gone")
    assert invoke(DELETE, f"{bindings_path(service_sid)}/{deleted['sid']}").status == 204

    assert listed(invoke, service_sid, Address="token-gone") == []
    assert listed(invoke, service_sid, Address="never-used") == []


def test_given_a_replaced_binding_when_listed_by_its_address_then_the_new_one(invoke, service_sid):
    create(invoke, service_sid, Identity="alice", Address="token-1")
    new = create(invoke, service_sid, Identity="bob", Address="token-1")

    assert listed(invoke, service_sid, Address="token-1") == [new["sid"]]


# Dates as days from the binding's creation day (GMT).
SAME_DAY, DAY_AFTER, DAY_BEFORE = 0, 1, -1


@pytest.mark.parametrize(
    ("filters", "found"),
    [
        ({"Identity": "alice"}, True),
        ({"Identity": ["bob", "alice"]}, True),
        ({"Identity": "bob"}, False),
        ({"Tag": "news"}, True),
        ({"Tag": ["news", "apn"]}, True),
        ({"Tag": ["news", "fcm"]}, False),
        ({"Tag": "all"}, True),
        ({"StartDate": SAME_DAY, "EndDate": SAME_DAY}, True),
        ({"StartDate": DAY_AFTER}, False),
        ({"EndDate": DAY_BEFORE}, False),
    ],
)
def test_given_an_address_and_other_filters_when_listed_then_the_binding_only_if_it_matches_them_all(  # noqa: E501
    invoke, service_sid, filters, found
):
    binding = create(invoke, service_sid, Identity="alice", Address="token-1", Tag=["news"])
    create(invoke, service_sid, Identity="bob", Address="token-2", Tag=["news"])
    created_on = date.fromisoformat(binding["date_created"][:10])
    for name in ("StartDate", "EndDate"):
        if name in filters:
            filters = {**filters, name: (created_on + timedelta(days=filters[name])).isoformat()}

    result = listed(invoke, service_sid, Address="token-1", **filters)

    assert result == ([binding["sid"]] if found else [])


def test_given_an_address_of_another_service_or_account_when_listed_then_nothing(
    invoke, service_sid, account
):
    create(invoke, service_sid, Identity="alice", Address="token-1")
    other = new_service(account.sid)

    assert listed(invoke, other, Address="token-1") == []
    stranger = invoke(
        LIST, bindings_path(service_sid), query={"Address": "token-1"}, account=new_account().sid
    )
    assert (stranger.status, stranger.json()["code"]) == (404, 20404)


@pytest.mark.parametrize("address", ["", "a\nb", "x" * 513, "e\u0301"])
def test_given_an_address_no_binding_may_have_when_listed_by_it_then_400(
    invoke, service_sid, address
):
    reply = invoke(LIST, bindings_path(service_sid), query={"Address": address})

    assert (reply.status, reply.json()["code"]) == (400, 20001)
    assert "Address" in reply.json()["message"]
