"""Erasure (ours): DELETE .../Users/{Identity} removes every binding of the identity, and no
read - by SID, by tag, by identity, by address, of Users - finds any of them afterwards.

An erasure interrupted part way is in tests/faults/test_erasure_faults.py; erasures racing
creates are in tests/concurrency/test_concurrent_identity_policies.py.
"""

from __future__ import annotations

from typing import Any

from local_api.round_trips import counting
from notify_bindings import dependencies
from tests.conftest import Invoker, new_service
from tests.handlers.helpers import (
    CREATE,
    DELETE,
    DELETE_USER,
    FETCH,
    FETCH_USER,
    LIST,
    LIST_USER_BINDINGS,
    LIST_USERS,
    bindings_path,
    create,
    user_path,
    users_path,
)
from tests.invariants import assert_service_consistent

BINDINGS_TABLE, INDEX_TABLE = "BindingsTable", "BindingIndexTable"
# Four tags and the binding type: 31 tag and combination items, a SID item and an address item.
FOUR_TAGS = ["news", "vip", "beta", "sports"]


def erasing(account_sid: str, service_sid: str) -> set[str]:
    """The identities the Service item marks as being erased, read raw."""
    item = dependencies.dynamodb().get_item(
        TableName="ServicesTable",
        Key={"AccountSid": {"S": account_sid}, "Sid": {"S": service_sid}},
        ConsistentRead=True,
    )["Item"]
    return set(item.get("ErasingIdentities", {}).get("SS", []))


def identity_record(service_sid: str, identity: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (
        dependencies.dynamodb()
        .get_item(
            TableName=INDEX_TABLE,
            Key={"pk": {"S": f"{service_sid}#identity"}, "sk": {"S": identity}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return found


def sids_seen(invoke: Invoker, service_sid: str, identity: str, created: list[dict[str, Any]]):
    """Every binding SID of `created` that any read finds: by SID, in the whole list, by each
    of its tags and its type, by identity, by address, in the User, its bindings and Users."""
    path = bindings_path(service_sid)
    seen: set[str] = set()
    for binding in created:
        if invoke(FETCH, f"{path}/{binding['sid']}").status == 200:
            seen.add(binding["sid"])
        queries: list[dict[str, Any]] = [
            {"Address": binding["address"]},
            {"Tag": binding["binding_type"]},
            *({"Tag": tag} for tag in binding["tags"]),
            {"Tag": binding["tags"][:2]},
        ]
        for query in queries:
            reply = invoke(LIST, path, query={**query, "PageSize": 1000})
            seen |= {b["sid"] for b in reply.json()["bindings"]}
    for query in ({}, {"Identity": identity}):
        seen |= {
            b["sid"]
            for b in invoke(LIST, path, query={**query, "PageSize": 1000}).json()["bindings"]
        }
    if invoke(FETCH_USER, user_path(service_sid, identity)).status == 200:
        seen.add(f"user {identity}")
    user_bindings = invoke(LIST_USER_BINDINGS, f"{user_path(service_sid, identity)}/Bindings")
    if user_bindings.status == 200:
        seen |= {b["sid"] for b in user_bindings.json()["bindings"]}
    users = invoke(LIST_USERS, users_path(service_sid), query={"PageSize": 1000}).json()["users"]
    seen |= {f"user {u['identity']}" for u in users if u["identity"] == identity}
    return seen & ({b["sid"] for b in created} | {f"user {identity}"})


def test_given_an_identity_when_erased_then_204_and_no_read_finds_its_bindings_and_a_second_erasure_is_404(  # noqa: E501
    invoke, service_sid, account
):
    alices = [
        create(invoke, service_sid, Identity="alice", Address=f"token-{n}", Tag=["news", "vip"])
        for n in range(3)
    ]
    alices.append(
        create(invoke, service_sid, Identity="alice", Address="+15550001111", BindingType="sms")
    )
    bobs = create(invoke, service_sid, Identity="bob", Address="token-bob", Tag=["news", "vip"])
    assert sids_seen(invoke, service_sid, "alice", alices) == {
        *(b["sid"] for b in alices),
        "user alice",
    }

    reply = invoke(DELETE_USER, user_path(service_sid, "alice"))

    assert (reply.status, reply.body) == (204, "")
    assert sids_seen(invoke, service_sid, "alice", alices) == set()
    audit = assert_service_consistent(
        dependencies.dynamodb(), BINDINGS_TABLE, INDEX_TABLE, service_sid
    )
    assert audit.sids_by_identity == {"bob": (bobs["sid"],)}
    assert identity_record(service_sid, "alice") is None  # not even an emptied record
    assert erasing(account.sid, service_sid) == set()
    again = invoke(DELETE_USER, user_path(service_sid, "alice"))
    assert (again.status, again.json()["code"]) == (404, 20404)
    assert invoke(FETCH, f"{bindings_path(service_sid)}/{bobs['sid']}").status == 200


def test_given_an_identity_whose_bindings_take_several_transactions_when_erased_then_all_go_and_no_mark_is_left(  # noqa: E501
    invoke, service_sid, account
):
    many_tags = [f"tag-{n}" for n in range(20)]  # more than a combination index: many-tags
    alices = [
        create(invoke, service_sid, Identity="alice", Address=f"token-{n}", Tag=FOUR_TAGS)
        for n in range(7)
    ]
    alices.append(create(invoke, service_sid, Identity="alice", Address="token-7", Tag=many_tags))
    create(invoke, service_sid, Identity="bob", Address="token-bob", Tag=FOUR_TAGS)

    with counting(dependencies.dynamodb()) as trips:
        reply = invoke(DELETE_USER, user_path(service_sid, "alice"))

    assert reply.status == 204, reply.body
    # 33 items for each binding with four tags: two of them to a transaction of at most 100,
    # and 23 for the one with many; one read first, and no more while transactions succeed.
    assert trips.by_operation == {"BatchGetItem": 1, "TransactWriteItems": 4}, trips
    assert sids_seen(invoke, service_sid, "alice", alices) == set()
    audit = assert_service_consistent(
        dependencies.dynamodb(), BINDINGS_TABLE, INDEX_TABLE, service_sid
    )
    assert set(audit.sids_by_identity) == {"bob"}
    assert identity_record(service_sid, "alice") is None
    assert erasing(account.sid, service_sid) == set()


def test_given_an_identity_whose_bindings_fit_one_transaction_when_erased_then_two_round_trips_and_no_mark(  # noqa: E501
    invoke, service_sid, account
):
    for number in range(20):
        create(invoke, service_sid, Identity="alice", Address=f"token-{number}")
    marks: list[Any] = []

    def watch(params: dict[str, Any], **_: Any) -> None:
        for item in params.get("TransactItems", []):
            if "ServicesTable" in str(item) and "ErasingIdentities" in str(item):
                marks.append(item)

    client = dependencies.dynamodb()
    client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", watch)
    try:
        with counting(client) as trips:
            reply = invoke(DELETE_USER, user_path(service_sid, "alice"))
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.TransactWriteItems", watch)

    assert reply.status == 204, reply.body
    assert trips.total == 2, trips  # the identity record with the Service, one transaction
    assert marks == []  # one transaction: nothing to hide from readers meanwhile
    assert invoke(FETCH_USER, user_path(service_sid, "alice")).status == 404


def test_given_an_identity_whose_deletes_emptied_its_record_when_erased_then_404_and_the_record_is_gone(  # noqa: E501
    invoke, service_sid
):
    binding = create(invoke, service_sid, Identity="alice", Address="token-1")
    assert invoke(DELETE, f"{bindings_path(service_sid)}/{binding['sid']}").status == 204
    assert identity_record(service_sid, "alice") is not None  # emptied, still naming alice

    reply = invoke(DELETE_USER, user_path(service_sid, "alice"))

    assert (reply.status, reply.json()["code"]) == (404, 20404)
    assert identity_record(service_sid, "alice") is None


def test_given_an_erased_identity_when_bindings_are_created_for_it_again_then_they_are_its_only_ones(  # noqa: E501
    invoke, service_sid
):
    for number in range(20):
        create(invoke, service_sid, Identity="alice", Address=f"token-{number}", Tag=FOUR_TAGS)
    assert invoke(DELETE_USER, user_path(service_sid, "alice")).status == 204

    again = [create(invoke, service_sid, Identity="alice", Address=f"new-{n}") for n in range(20)]

    user = invoke(FETCH_USER, user_path(service_sid, "alice")).json()
    assert user["binding_count"] == 20  # the limit counts from nothing again
    assert (
        invoke(
            CREATE,
            bindings_path(service_sid),
            form={"Identity": "alice", "BindingType": "apn", "Address": "new-20"},
        ).status
        == 400
    )
    listed = invoke(LIST_USER_BINDINGS, f"{user_path(service_sid, 'alice')}/Bindings").json()
    assert [b["sid"] for b in listed["bindings"]] == [b["sid"] for b in again]


def test_given_a_deleted_service_when_an_identity_of_it_is_erased_then_404(invoke, account):
    service = new_service(account.sid)
    create(invoke, service, Identity="alice", Address="token-1")
    assert invoke("DeleteServiceFunction", f"/v1/Services/{service}").status == 204

    reply = invoke(DELETE_USER, user_path(service, "alice"))

    assert (reply.status, reply.json()["code"]) == (404, 20404)
