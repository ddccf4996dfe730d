"""Writes whose outcome DynamoDB left unknown: the request was carried out but its answer was
lost, and botocore's retries could not tell (a repeat of the transaction still in progress, a
conditional write that now fails on its own effect). The layer must look again rather than
assume, and answer what did happen. Also single-item writes that meet a transaction on their
item (TransactionConflictException), which botocore does not retry.

Each test scripts the faults of the attempts of one operation (tests/faults/injector.py)."""

from __future__ import annotations

from tests.conftest import Invoker
from tests.faults.conftest import Inject
from tests.faults.injector import IN_PROGRESS, LOST
from tests.faults.oracle import refused
from tests.handlers.helpers import CREATE, DELETE, FETCH, LIST, bindings_path, create
from tests.handlers.test_services import (
    CREATE_SERVICE,
    DELETE_SERVICE,
    FETCH_SERVICE,
    LIST_SERVICES,
    UPDATE_SERVICE,
    service_path,
)
from tests.invariants import assert_service_consistent

TRANSACTION = frozenset({"TransactWriteItems"})
UPDATE = frozenset({"UpdateItem"})
# The transaction happens and its answer is lost; botocore's two repeats (same token) find it
# still in progress; botocore gives up.
APPLIED_THEN_UNKNOWN = [LOST, IN_PROGRESS, IN_PROGRESS]
FORM = {"Identity": "alice", "BindingType": "apn", "Address": "device-1"}


def audit(dynamodb, service_sid):
    return assert_service_consistent(dynamodb, "BindingsTable", "BindingIndexTable", service_sid)


def test_given_a_create_that_happened_but_whose_answers_were_lost_then_201_with_that_binding_and_no_other(  # noqa: E501
    inject: Inject, timed_invoke: Invoker, invoke, service_sid, dynamodb
):
    faults = inject(seed=1, rate=0.0, operations=TRANSACTION, script=APPLIED_THEN_UNKNOWN)

    reply = timed_invoke(CREATE, bindings_path(service_sid), form=FORM)

    assert faults.injected == {LOST: 1, IN_PROGRESS: 2}, faults.summary()
    assert faults.lost_writes == 1, "the first attempt did not take effect"
    assert reply.status == 201, reply.body
    sid = reply.json()["sid"]
    assert invoke(FETCH, f"{bindings_path(service_sid)}/{sid}").status == 200
    assert audit(dynamodb, service_sid).sid_by_address == {"device-1": sid}


def test_given_a_replace_that_happened_but_whose_answers_were_lost_then_201_with_the_new_binding(
    inject: Inject, timed_invoke: Invoker, invoke, service_sid, dynamodb
):
    old = create(invoke, service_sid, **FORM)["sid"]
    other = create(invoke, service_sid, **{**FORM, "Address": "device-2"})["sid"]
    faults = inject(seed=1, rate=0.0, operations=TRANSACTION, script=APPLIED_THEN_UNKNOWN)

    reply = timed_invoke(CREATE, bindings_path(service_sid), form={**FORM, "Identity": "bob"})

    assert faults.injected == {LOST: 1, IN_PROGRESS: 2}, faults.summary()
    assert faults.lost_writes == 1, "the first attempt did not take effect"
    assert reply.status == 201, reply.body
    new = reply.json()["sid"]
    assert new != old
    assert invoke(FETCH, f"{bindings_path(service_sid)}/{old}").status == 404
    assert audit(dynamodb, service_sid).sids_by_identity == {"alice": (other,), "bob": (new,)}


def test_given_a_delete_that_happened_but_whose_answers_were_lost_then_204_not_404(
    inject: Inject, timed_invoke: Invoker, invoke, service_sid, dynamodb
):
    sid = create(invoke, service_sid, **FORM)["sid"]
    other = create(invoke, service_sid, **{**FORM, "Address": "device-2"})["sid"]
    path = f"{bindings_path(service_sid)}/{sid}"
    faults = inject(seed=1, rate=0.0, operations=TRANSACTION, script=APPLIED_THEN_UNKNOWN)

    reply = timed_invoke(DELETE, path)

    assert faults.injected == {LOST: 1, IN_PROGRESS: 2}, faults.summary()
    assert faults.lost_writes == 1, "the first attempt did not take effect"
    assert reply.status == 204, reply.body
    assert invoke(FETCH, path).status == 404
    assert audit(dynamodb, service_sid).sids == frozenset({other})


def test_given_a_delete_whose_transaction_failed_every_attempt_then_it_looks_again_and_deletes(
    inject: Inject, timed_invoke: Invoker, invoke, service_sid, dynamodb
):
    sid = create(invoke, service_sid, **FORM)["sid"]
    path = f"{bindings_path(service_sid)}/{sid}"
    errors = ["InternalServerError"] * 3  # refused: nothing happened, though it might have
    faults = inject(seed=1, rate=0.0, operations=TRANSACTION, script=errors)

    reply = timed_invoke(DELETE, path)

    assert faults.injected == {"InternalServerError": 3}, faults.summary()
    assert reply.status == 204, reply.body
    assert invoke(FETCH, path).status == 404, "answered 204, and the binding is still there"
    assert audit(dynamodb, service_sid).sids == frozenset()


def test_given_a_create_whose_outcome_stays_unknown_then_503_and_a_retry_finds_what_happened(
    inject: Inject, timed_invoke: Invoker, invoke, service_sid, dynamodb
):
    # The read, the transaction (done, answers lost), and every attempt to read it again.
    failing_read = ["InternalServerError"] * 3
    script = [None, *APPLIED_THEN_UNKNOWN, *failing_read]
    faults = inject(seed=1, rate=0.0, script=script)

    reply = timed_invoke(CREATE, bindings_path(service_sid), form=FORM)

    assert faults.injected == {LOST: 1, IN_PROGRESS: 2, "InternalServerError": 3}
    assert faults.lost_writes == 1, "the first attempt did not take effect"
    assert reply.status == 503
    assert refused(reply)
    with faults.paused():
        retried = invoke(CREATE, bindings_path(service_sid), form=FORM)
    assert retried.status == 201
    assert audit(dynamodb, service_sid).sid_by_address == {"device-1": retried.json()["sid"]}
    listed = invoke(LIST, bindings_path(service_sid)).json()["bindings"]
    assert [binding["sid"] for binding in listed] == [retried.json()["sid"]]


def test_given_a_service_create_that_happened_but_whose_answer_was_lost_then_201_not_500(
    inject: Inject, timed_invoke: Invoker, invoke
):
    # botocore sends the PutItem again; its condition (no such Service yet) now fails.
    faults = inject(seed=1, rate=0.0, operations=frozenset({"PutItem"}), script=[LOST])

    reply = timed_invoke(CREATE_SERVICE, "/v1/Services", form={"FriendlyName": "lost"})

    assert faults.injected == {LOST: 1}, faults.summary()
    assert faults.lost_writes == 1, "the first attempt did not take effect"
    assert reply.status == 201, reply.body
    sid = reply.json()["sid"]
    assert invoke(FETCH_SERVICE, service_path(sid)).json()["friendly_name"] == "lost"


def test_given_a_service_delete_that_happened_but_whose_answer_was_lost_then_204_not_404(
    inject: Inject, timed_invoke: Invoker, invoke, service_sid
):
    # botocore sends the UpdateItem again; the Service is marked deleted already.
    faults = inject(seed=1, rate=0.0, operations=UPDATE, script=[LOST])

    reply = timed_invoke(DELETE_SERVICE, service_path(service_sid))

    assert faults.injected == {LOST: 1}, faults.summary()
    assert faults.lost_writes == 1, "the first attempt did not take effect"
    assert reply.status == 204, reply.body
    assert invoke(FETCH_SERVICE, service_path(service_sid)).status == 404
    assert invoke(DELETE_SERVICE, service_path(service_sid)).status == 404  # another request


def test_given_a_service_write_that_meets_a_binding_transaction_then_it_is_tried_again(
    inject: Inject, timed_invoke: Invoker, invoke, service_sid
):
    # Every binding write checks its Service in a transaction; DynamoDB refuses a write of
    # the Service's item meanwhile.
    conflict = "TransactionConflictException"
    faults = inject(seed=1, rate=0.0, operations=UPDATE, script=[conflict, conflict])

    updated = timed_invoke(UPDATE_SERVICE, service_path(service_sid), form={"FriendlyName": "x"})
    deleted = timed_invoke(DELETE_SERVICE, service_path(service_sid), account="caller")

    assert faults.injected == {conflict: 2}, faults.summary()
    assert updated.status == 200, updated.body
    assert updated.json()["friendly_name"] == "x"
    assert deleted.status == 204, deleted.body
    assert invoke(FETCH_SERVICE, service_path(service_sid)).status == 404


def test_given_service_writes_that_always_meet_transactions_then_503_not_500(
    inject: Inject, timed_invoke: Invoker, service_sid
):
    inject(
        seed=1,
        rate=1.0,
        operations=UPDATE,
        faults=frozenset({"TransactionConflictException"}),
    )

    for function in (UPDATE_SERVICE, DELETE_SERVICE):
        reply = timed_invoke(function, service_path(service_sid), form={"FriendlyName": "x"})

        assert reply.status == 503, reply.body
        assert refused(reply)
    assert timed_invoke(LIST_SERVICES, "/v1/Services").status == 200
