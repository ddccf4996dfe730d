"""Erasures that DynamoDB interrupts: stopped after their first transaction (every later one
refused), or with the outcome of each transaction left unknown. No read may show the erasure
half done, every item must still agree with the bindings, and the next erasure of the identity
- or the next create for it - finishes the job.

The identity's bindings have four tags each (33 items a binding), so that erasing them takes
three transactions, and the Service item marks the identity meanwhile (dal/bindings/store.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Invoker
from tests.faults.conftest import Inject
from tests.faults.injector import IN_PROGRESS, LOST
from tests.faults.oracle import refused
from tests.handlers.helpers import (
    DELETE_USER,
    FETCH_USER,
    LIST,
    LIST_USER_BINDINGS,
    bindings_path,
    create,
    user_path,
)
from tests.handlers.test_erasure import FOUR_TAGS, erasing, sids_seen
from tests.invariants import assert_service_consistent

TRANSACTION = frozenset({"TransactWriteItems"})
ALICES = 6  # two to a transaction: three transactions


def audit(dynamodb, service_sid):
    return assert_service_consistent(dynamodb, "BindingsTable", "BindingIndexTable", service_sid)


def given_alice_and_bob(
    invoke: Invoker, service_sid: str, alices: int = ALICES
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    created = [
        create(invoke, service_sid, Identity="alice", Address=f"token-{n}", Tag=FOUR_TAGS)
        for n in range(alices)
    ]
    bob = create(invoke, service_sid, Identity="bob", Address="token-bob", Tag=FOUR_TAGS)
    return created, bob


@pytest.mark.parametrize("finish", ["erased again", "created again"])
def test_given_an_erasure_that_dynamodb_stops_after_its_first_transaction_then_no_read_finds_any_of_the_identitys_bindings_and_the_next_write_finishes_it(  # noqa: E501
    finish, inject: Inject, timed_invoke: Invoker, invoke, service_sid, dynamodb, account
):
    alices, bob = given_alice_and_bob(invoke, service_sid)
    faults = inject(
        seed=11,
        rate=1.0,
        faults=frozenset({"InternalServerError"}),
        operations=TRANSACTION,
        script=[None],  # the first transaction goes through; every later one is refused
    )

    reply = timed_invoke(DELETE_USER, user_path(service_sid, "alice"))

    assert refused(reply), reply.body
    with faults.paused():
        stopped = audit(dynamodb, service_sid)  # every item agrees with the bindings
        left = len(stopped.sids_by_identity["alice"])
        assert left == ALICES - 2, "the first transaction took two of alice's bindings"
        assert erasing(account.sid, service_sid) == {"alice"}
        assert sids_seen(invoke, service_sid, "alice", alices) == set()  # all gone to readers
        assert invoke(FETCH_USER, user_path(service_sid, "bob")).status == 200
        by_tag = invoke(LIST, bindings_path(service_sid), query={"Tag": FOUR_TAGS[:2]}).json()
        assert [b["sid"] for b in by_tag["bindings"]] == [bob["sid"]]

        if finish == "erased again":
            assert invoke(DELETE_USER, user_path(service_sid, "alice")).status == 204
            assert invoke(DELETE_USER, user_path(service_sid, "alice")).status == 404
            expected: set[str] = set()
        else:
            created = create(invoke, service_sid, Identity="alice", Address="token-new")
            listed = invoke(LIST_USER_BINDINGS, f"{user_path(service_sid, 'alice')}/Bindings")
            assert [b["sid"] for b in listed.json()["bindings"]] == [created["sid"]]
            expected = {created["sid"]}

        finished = audit(dynamodb, service_sid)
        assert set(finished.sids_by_identity.get("alice", ())) == expected
        assert finished.sids_by_identity["bob"] == (bob["sid"],)
        assert erasing(account.sid, service_sid) == set()
    assert faults.total_injected > 0, faults.summary()


def test_given_an_erasure_whose_every_transaction_happened_but_its_answers_were_lost_then_204_and_nothing_is_left(  # noqa: E501
    inject: Inject, timed_invoke: Invoker, invoke, service_sid, dynamodb, account
):
    # Two transactions: each lost answer costs a read timeout (2 s) of the function's 10 s.
    alices, bob = given_alice_and_bob(invoke, service_sid, alices=4)
    # Each transaction happens, its answer is lost, botocore's repeats find it in progress.
    faults = inject(
        seed=12, rate=0.0, operations=TRANSACTION, script=[LOST, IN_PROGRESS, IN_PROGRESS] * 2
    )

    reply = timed_invoke(DELETE_USER, user_path(service_sid, "alice"))

    assert reply.status == 204, reply.body
    assert faults.lost_writes == 2, faults.summary()  # both transactions, each looked into
    assert sids_seen(invoke, service_sid, "alice", alices) == set()
    assert audit(dynamodb, service_sid).sids_by_identity == {"bob": (bob["sid"],)}
    assert erasing(account.sid, service_sid) == set()
    assert invoke(DELETE_USER, user_path(service_sid, "alice")).status == 404


def test_given_a_storm_of_faults_when_identities_are_erased_then_every_answer_is_honest_and_the_service_stays_consistent(  # noqa: E501
    inject: Inject, timed_invoke: Invoker, invoke, service_sid, dynamodb, account, clocked
):
    identities = ["alice", "bob", "carol"]
    for identity in identities:
        for number in range(4):
            create(
                invoke,
                service_sid,
                Identity=identity,
                Address=f"{identity}-{number}",
                Tag=FOUR_TAGS,
            )
    faults = inject(seed=13, rate=0.7)

    answers = {
        identity: timed_invoke(DELETE_USER, user_path(service_sid, identity))
        for identity in identities
    }

    with faults.paused():
        finished = audit(dynamodb, service_sid)
        marked = erasing(account.sid, service_sid)
        for identity, reply in answers.items():
            held = len(finished.sids_by_identity.get(identity, ()))
            if reply.status == 204:
                assert (held, identity in marked) == (0, False), identity
            else:
                assert refused(reply), reply.body
                assert identity in marked or held in (0, 4), (identity, held)  # never part way
            shown = invoke(FETCH_USER, user_path(service_sid, identity)).status == 200
            assert shown == (held > 0 and identity not in marked), identity
    assert faults.total_injected > 0, faults.summary()
    assert not clocked.overran(), clocked.overran()
