"""A Service's IdentityBindingLimitPolicy (ours): `reject` (the default, Twilio's 400) or
`evict_oldest`, where the 21st binding of an identity replaces its least recently created one
in the same transaction. Races for the limit are in tests/concurrency."""

from __future__ import annotations

from typing import Any

import pytest

from local_api.round_trips import counting
from notify_bindings import dependencies
from tests.conftest import Invoker, new_service
from tests.handlers.helpers import (
    CREATE,
    FETCH,
    FETCH_USER,
    LIST,
    bindings_path,
    create,
    user_path,
)
from tests.handlers.test_services import (
    CREATE_SERVICE,
    FETCH_SERVICE,
    LIST_SERVICES,
    UPDATE_SERVICE,
    service_path,
)
from tests.invariants import assert_service_consistent

LIMIT = 20
FOUR_TAGS = ["news", "vip", "beta", "sports"]


def evicting_service(account_sid: str) -> str:
    return new_service(account_sid, identity_binding_limit_policy="evict_oldest")


def fill(invoke: Invoker, service_sid: str, identity: str, **form: Any) -> list[dict[str, Any]]:
    return [
        create(invoke, service_sid, Identity=identity, Address=f"{identity}-{n}", **form)
        for n in range(LIMIT)
    ]


def audit(service_sid: str) -> Any:
    return assert_service_consistent(
        dependencies.dynamodb(), "BindingsTable", "BindingIndexTable", service_sid
    )


# -- the Service field -------------------------------------------------------------------------


def test_given_a_service_when_created_without_a_policy_then_it_rejects_and_says_so(invoke):
    created = invoke(CREATE_SERVICE, "/v1/Services", form={"FriendlyName": "default"})

    assert created.json()["identity_binding_limit_policy"] == "reject"
    listed = invoke(LIST_SERVICES, "/v1/Services", query={"FriendlyName": "default"}).json()
    assert {s["identity_binding_limit_policy"] for s in listed["services"]} == {"reject"}


def test_given_a_policy_when_set_on_create_and_update_then_it_is_kept_returned_and_reset_by_an_empty_value(  # noqa: E501
    invoke,
):
    created = invoke(
        CREATE_SERVICE, "/v1/Services", form={"IdentityBindingLimitPolicy": "evict_oldest"}
    ).json()
    path = service_path(created["sid"])

    fetched = invoke(FETCH_SERVICE, path).json()
    back = invoke(UPDATE_SERVICE, path, form={"IdentityBindingLimitPolicy": "reject"}).json()
    again = invoke(UPDATE_SERVICE, path, form={"IdentityBindingLimitPolicy": "evict_oldest"}).json()
    unchanged = invoke(UPDATE_SERVICE, path, form={"FriendlyName": "x"}).json()
    reset = invoke(UPDATE_SERVICE, path, form={"IdentityBindingLimitPolicy": ""}).json()

    assert created["identity_binding_limit_policy"] == "evict_oldest"
    assert fetched["identity_binding_limit_policy"] == "evict_oldest"
    assert back["identity_binding_limit_policy"] == "reject"
    assert again["identity_binding_limit_policy"] == "evict_oldest"
    assert unchanged["identity_binding_limit_policy"] == "evict_oldest"
    assert reset["identity_binding_limit_policy"] == "reject"


@pytest.mark.parametrize("value", ["evict", "EVICT_OLDEST", "evict_newest", " reject"])
def test_given_an_unknown_policy_when_a_service_is_created_then_400_naming_the_parameter(
    invoke, value
):
    reply = invoke(CREATE_SERVICE, "/v1/Services", form={"IdentityBindingLimitPolicy": value})

    assert (reply.status, reply.json()["code"]) == (400, 20001)
    assert "IdentityBindingLimitPolicy" in reply.json()["message"]


# -- the 21st binding ------------------------------------------------------------------------


def test_given_the_default_policy_when_an_identity_has_20_bindings_then_the_21st_is_refused(
    invoke, service_sid
):
    fill(invoke, service_sid, "alice")

    reply = invoke(
        CREATE,
        bindings_path(service_sid),
        form={"Identity": "alice", "BindingType": "apn", "Address": "alice-20"},
    )

    assert (reply.status, reply.json()["code"]) == (400, 20001)
    assert audit(service_sid).bindings_per_identity == {"alice": LIMIT}


def test_given_evict_oldest_when_an_identity_has_20_bindings_then_the_21st_replaces_the_oldest_at_once(  # noqa: E501
    invoke, account
):
    service = evicting_service(account.sid)
    filled = fill(invoke, service, "alice", Tag=FOUR_TAGS)
    create(invoke, service, Identity="bob", Address="bob-0")

    newest = create(invoke, service, Identity="alice", Address="alice-20", Tag=["news"])

    path = bindings_path(service)
    assert invoke(FETCH, f"{path}/{filled[0]['sid']}").status == 404  # the oldest is gone
    assert invoke(FETCH, f"{path}/{newest['sid']}").status == 200
    alices = invoke(LIST, path, query={"Identity": "alice"}).json()["bindings"]
    assert [b["sid"] for b in alices] == [b["sid"] for b in filled[1:]] + [newest["sid"]]
    assert invoke(LIST, path, query={"Address": "alice-0"}).json()["bindings"] == []
    by_tags = invoke(LIST, path, query={"Tag": ["vip", "sports"], "PageSize": 100}).json()
    assert filled[0]["sid"] not in {b["sid"] for b in by_tags["bindings"]}
    assert invoke(FETCH_USER, user_path(service, "alice")).json()["binding_count"] == LIMIT
    assert audit(service).bindings_per_identity == {"alice": LIMIT, "bob": 1}


def test_given_evict_oldest_when_creates_keep_coming_then_each_evicts_the_oldest_left(
    invoke, account
):
    service = evicting_service(account.sid)
    filled = fill(invoke, service, "alice")

    more = [create(invoke, service, Identity="alice", Address=f"more-{n}") for n in range(5)]

    alices = invoke(LIST, bindings_path(service), query={"Identity": "alice"}).json()["bindings"]
    assert [b["sid"] for b in alices] == [b["sid"] for b in filled[5:] + more]


def test_given_evict_oldest_when_a_binding_moves_to_a_full_identity_then_the_oldest_is_evicted_and_the_old_owner_shrinks(  # noqa: E501
    invoke, account
):
    service = evicting_service(account.sid)
    filled = fill(invoke, service, "alice")
    bobs = create(invoke, service, Identity="bob", Address="shared", Tag=FOUR_TAGS)

    moved = create(invoke, service, Identity="alice", Address="shared")

    path = bindings_path(service)
    assert invoke(FETCH, f"{path}/{filled[0]['sid']}").status == 404
    assert invoke(FETCH, f"{path}/{bobs['sid']}").status == 404  # replaced at its address
    assert invoke(FETCH_USER, user_path(service, "bob")).status == 404
    held = audit(service)
    assert held.bindings_per_identity == {"alice": LIMIT}
    assert held.sid_by_address["shared"] == moved["sid"]


def test_given_evict_oldest_when_a_full_identity_replaces_one_of_its_own_then_nothing_is_evicted(
    invoke, account
):
    service = evicting_service(account.sid)
    filled = fill(invoke, service, "alice")

    replaced = create(invoke, service, Identity="alice", Address="alice-7", Tag=["new"])

    path = bindings_path(service)
    assert invoke(FETCH, f"{path}/{filled[0]['sid']}").status == 200
    assert invoke(FETCH, f"{path}/{filled[7]['sid']}").status == 404
    assert invoke(FETCH, f"{path}/{replaced['sid']}").status == 200
    assert audit(service).bindings_per_identity == {"alice": LIMIT}


def test_given_evict_oldest_when_the_replace_and_the_eviction_exceed_one_transaction_then_the_oldest_goes_first_and_the_limit_holds(  # noqa: E501
    invoke, account
):
    service = evicting_service(account.sid)
    filled = fill(invoke, service, "alice", Tag=FOUR_TAGS)  # 33 items each
    create(invoke, service, Identity="bob", Address="shared", Tag=FOUR_TAGS)

    # Replacing bob's binding (33 items) with one of four tags (33) and evicting alice's
    # oldest (33): 99 items and the Service, the identity records and the count - over 100.
    moved = create(invoke, service, Identity="alice", Address="shared", Tag=FOUR_TAGS)

    path = bindings_path(service)
    assert invoke(FETCH, f"{path}/{filled[0]['sid']}").status == 404
    alices = invoke(LIST, path, query={"Identity": "alice"}).json()["bindings"]
    assert [b["sid"] for b in alices] == [b["sid"] for b in filled[1:]] + [moved["sid"]]
    assert audit(service).bindings_per_identity == {"alice": LIMIT}


def test_given_evict_oldest_when_the_21st_is_created_then_four_round_trips(invoke, account):
    service = evicting_service(account.sid)
    fill(invoke, service, "alice")

    with counting(dependencies.dynamodb()) as trips:
        reply = invoke(
            CREATE,
            bindings_path(service),
            form={"Identity": "alice", "BindingType": "apn", "Address": "alice-20"},
        )

    assert reply.status == 201, reply.body
    # A first attempt finds the identity full; a second read takes its record, to pick the
    # oldest binding, and the second transaction evicts it.
    assert trips.by_operation == {"BatchGetItem": 2, "TransactWriteItems": 2}, trips
