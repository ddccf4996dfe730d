"""DynamoDB round trips per binding operation, through the template's functions: fetch 1,
create of a new address <= 2, replace <= 3, delete <= 2, a list page <= 2 per page returned.

Each request is counted by a hook on the functions' own DynamoDB client (every request sent,
botocore's retries included); the bindings a case needs are created before counting starts.
`bench/round_trips.py` reports the same counts, with the Service operations and the authorizer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from local_api.round_trips import RoundTrips, counting
from tests.conftest import Reply
from tests.handlers.helpers import CREATE, DELETE, FETCH, LIST, bindings_path, create

FETCH_TRIPS = 1
CREATE_TRIPS = 2
REPLACE_TRIPS = 3
DELETE_TRIPS = 2
LIST_TRIPS_PER_PAGE = 2


@pytest.fixture
def counted(functions: Any) -> Callable[[Callable[[], Reply]], tuple[Reply, RoundTrips]]:
    """Runs a request, counting the DynamoDB requests the functions send meanwhile."""
    from notify_bindings import dependencies

    def run(request: Callable[[], Reply]) -> tuple[Reply, RoundTrips]:
        with counting(dependencies.dynamodb()) as trips:
            reply = request()
        return reply, trips

    return run


def assert_at_most(trips: RoundTrips, limit: int) -> None:
    assert trips.total >= 1, "nothing counted: the hook is not on the functions' client"
    assert trips.total <= limit, trips


def form(**fields: str | list[str]) -> dict[str, Any]:
    return {"Identity": "alice", "BindingType": "apn", "Address": "token-1", **fields}


def test_given_a_binding_when_fetched_then_one_round_trip(invoke, service_sid, counted):
    binding = create(invoke, service_sid)

    reply, trips = counted(lambda: invoke(FETCH, f"{bindings_path(service_sid)}/{binding['sid']}"))

    assert reply.status == 200
    assert reply.json()["sid"] == binding["sid"]
    assert_at_most(trips, FETCH_TRIPS)


@pytest.mark.parametrize("identity", ["alice", "bob"], ids=["identity-with-bindings", "new"])
def test_given_a_new_address_when_created_then_at_most_two_round_trips(
    invoke, service_sid, counted, identity
):
    create(invoke, service_sid, Identity="alice", Address="alice-1")

    reply, trips = counted(
        lambda: invoke(CREATE, bindings_path(service_sid), form=form(Identity=identity))
    )

    assert reply.status == 201, reply.body
    assert_at_most(trips, CREATE_TRIPS)


def test_given_the_live_binding_when_created_identically_then_at_most_two_round_trips(
    invoke, service_sid, counted
):
    live = create(invoke, service_sid, Tag=["a"])

    reply, trips = counted(lambda: invoke(CREATE, bindings_path(service_sid), form=form(Tag=["a"])))

    assert reply.json()["sid"] == live["sid"]
    assert_at_most(trips, CREATE_TRIPS)


@pytest.mark.parametrize(
    ("owner", "new_identity"),
    [
        ("alice", "alice"),  # same identity, new tags
        ("alice", "carol"),  # alice keeps her other binding; carol has one already
        ("dave", "carol"),  # dave's last binding goes to carol
        ("dave", "erin"),  # dave's last binding goes to an identity with none yet
    ],
    ids=["same-identity", "old-keeps-others", "old-loses-its-last", "to-a-new-identity"],
)
def test_given_a_bound_address_when_created_again_then_replaced_in_at_most_three_round_trips(
    invoke, service_sid, counted, owner, new_identity
):
    create(invoke, service_sid, Identity="alice", Address="alice-1")
    create(invoke, service_sid, Identity="carol", Address="carol-1")
    old = create(invoke, service_sid, Identity=owner, Address="shared")

    reply, trips = counted(
        lambda: invoke(
            CREATE,
            bindings_path(service_sid),
            form=form(Identity=new_identity, Address="shared", Tag=["moved"]),
        )
    )

    assert reply.status == 201, reply.body
    assert reply.json()["sid"] != old["sid"]
    assert reply.json()["identity"] == new_identity
    assert_at_most(trips, REPLACE_TRIPS)


@pytest.mark.parametrize("others", [1, 0], ids=["identity-keeps-others", "identitys-last"])
def test_given_a_binding_when_deleted_then_at_most_two_round_trips(
    invoke, service_sid, counted, others
):
    for number in range(others):
        create(invoke, service_sid, Address=f"other-{number}")
    path = f"{bindings_path(service_sid)}/{create(invoke, service_sid)['sid']}"

    reply, trips = counted(lambda: invoke(DELETE, path))

    assert reply.status == 204, reply.body
    assert invoke(FETCH, path).status == 404
    assert_at_most(trips, DELETE_TRIPS)


PAGE_SIZE = 2
# Days around today, so that a run crossing midnight still finds what it created.
YESTERDAY, TOMORROW = (
    (datetime.now(UTC) + timedelta(days=days)).date().isoformat() for days in (-1, 1)
)


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("Identity", "alice"), ("Identity", "bob")],
        [("Tag", "news")],
        [("Tag", "fcm")],
        [("StartDate", YESTERDAY), ("EndDate", TOMORROW)],
        [("Tag", "news"), ("Tag", "sports")],
    ],
    ids=["no-filter", "by-identity", "by-one-tag", "by-binding-type", "by-date", "by-tags"],
)
def test_given_more_than_a_page_when_listed_then_each_page_takes_at_most_two_round_trips(
    invoke, service_sid, counted, query
):
    for number in range(2 * PAGE_SIZE + 1):
        create(
            invoke,
            service_sid,
            Identity="alice" if number % 2 else "bob",
            BindingType="fcm",
            Address=f"token-{number}",
            Tag=["news", "sports"],
        )
    path = bindings_path(service_sid)

    first, first_trips = counted(
        lambda: invoke(LIST, path, query=[*query, ("PageSize", str(PAGE_SIZE))])
    )
    next_url = first.json()["meta"]["next_page_url"]
    second, second_trips = counted(
        lambda: invoke(LIST, path, query=parse_qsl(urlsplit(next_url).query))
    )

    assert [len(page.json()["bindings"]) for page in (first, second)] == [PAGE_SIZE, PAGE_SIZE]
    assert_at_most(first_trips, LIST_TRIPS_PER_PAGE)
    assert_at_most(second_trips, LIST_TRIPS_PER_PAGE)
