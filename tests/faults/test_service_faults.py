"""The Service functions and the background purge under storms of DynamoDB faults.

A seeded storm of Service creates, updates, fetches, lists and deletes: each answer is the
operation's own or a 429/503 with Retry-After (never a 500), agrees with what earlier answers
made certain, and comes before the function's timeout. Then the purge of deleted Services
runs from the queue while DynamoDB keeps failing, each failed message delivered again as SQS
would: every deleted Service ends with nothing left, and the live ones keep every binding.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from local_api.events import sqs_event
from tests.conftest import Credentials, Invoker, new_account
from tests.faults.conftest import ClockedFunctions, Inject
from tests.faults.oracle import State, refused
from tests.handlers.helpers import CREATE, LIST, bindings_path
from tests.handlers.test_services import (
    CREATE_SERVICE,
    DELETE_SERVICE,
    FETCH_SERVICE,
    LIST_SERVICES,
    PURGE,
    UPDATE_SERVICE,
    service_path,
)
from tests.invariants import assert_service_consistent

pytestmark = pytest.mark.slow  # a minute or more in all (pyproject.toml)
NAMES = ["red", "green", "blue"]
STEPS = 120
PURGE_PAGE = 100


@dataclass
class Services:
    """What the client knows for certain of its Services (see tests/faults/oracle.py)."""

    states: dict[str, State] = field(default_factory=dict)
    names: dict[str, str | None] = field(default_factory=dict)  # None: not certain
    acknowledged: int = 0
    refusals: int = 0

    def sids(self, state: State) -> list[str]:
        return [sid for sid, known in self.states.items() if known is state]

    def created(self, reply: Any, name: str) -> None:
        if refused(reply):
            self.refusals += 1  # a Service may exist that the client never learns of
            return
        assert reply.status == 201, reply.body
        self.acknowledged += 1
        sid = reply.json()["sid"]
        assert sid not in self.states
        self.states[sid], self.names[sid] = State.LIVE, name

    def updated(self, sid: str, reply: Any, name: str) -> None:
        if refused(reply):
            self.refusals += 1
            self.names[sid] = None
            return
        self._read(sid, reply)
        if reply.status == 200:
            assert reply.json()["friendly_name"] == name
            self.acknowledged += 1
            self.names[sid] = name

    def fetched(self, sid: str, reply: Any) -> None:
        if refused(reply):
            self.refusals += 1
            return
        self._read(sid, reply)
        if reply.status == 200 and self.names[sid] is not None:
            assert reply.json()["friendly_name"] == self.names[sid], reply.body

    def _read(self, sid: str, reply: Any) -> None:
        if reply.status == 200:
            assert self.states[sid] is not State.GONE, f"{sid} was deleted and is back"
            self.states[sid] = State.LIVE
        else:
            assert reply.status == 404, reply.body
            assert self.states[sid] is not State.LIVE, f"live {sid} answered 404"
            self.states[sid] = State.GONE

    def deleted(self, sid: str, reply: Any) -> None:
        if refused(reply):
            self.refusals += 1
            self.states[sid] = State.UNKNOWN
            return
        if reply.status == 204:
            assert self.states[sid] is not State.GONE, f"{sid} deleted twice"
            self.acknowledged += 1
        else:
            assert reply.status == 404, reply.body
            assert self.states[sid] is not State.LIVE, f"deleting live {sid} answered 404"
        self.states[sid] = State.GONE

    def listed(self, reply: Any) -> None:
        if refused(reply):
            self.refusals += 1
            return
        assert reply.status == 200, reply.body
        found = {service["sid"] for service in reply.json()["services"]}
        missing = set(self.sids(State.LIVE)) - found
        assert not missing, f"live Services missing from the list: {missing}"
        assert not found & set(self.sids(State.GONE)), "a deleted Service is listed"


def storm(invoke: Invoker, caller: Credentials, rng: random.Random, known: Services) -> None:
    for _ in range(STEPS):
        sids = list(known.states)
        action = rng.choices(["create", "update", "fetch", "list", "delete"], [3, 2, 2, 1, 2])[0]
        if action == "create" or not sids:
            name = rng.choice(NAMES)
            reply = invoke(CREATE_SERVICE, "/v1/Services", form={"FriendlyName": name})
            known.created(reply, name)
        elif action == "update":
            sid, name = rng.choice(sids), rng.choice(NAMES)
            reply = invoke(UPDATE_SERVICE, service_path(sid), form={"FriendlyName": name})
            known.updated(sid, reply, name)
        elif action == "fetch":
            sid = rng.choice(sids)
            known.fetched(sid, invoke(FETCH_SERVICE, service_path(sid)))
        elif action == "delete":
            sid = rng.choice(sids)
            known.deleted(sid, invoke(DELETE_SERVICE, service_path(sid)))
        else:
            known.listed(invoke(LIST_SERVICES, "/v1/Services", query={"PageSize": 1000}))


@pytest.mark.parametrize("seed", [11, 12])
def test_given_a_storm_of_dynamodb_faults_when_services_are_created_changed_and_deleted_then_answers_are_honest(  # noqa: E501
    seed, inject: Inject, clocked: ClockedFunctions, functions, aws
):
    caller = new_account()
    invoke = Invoker(clocked, caller.sid)  # type: ignore[arg-type] # the same two members
    known = Services()
    faults = inject(seed=seed, rate=0.5)

    storm(invoke, caller, random.Random(seed), known)

    with faults.paused():
        for sid in known.sids(State.LIVE):
            known.fetched(sid, invoke(FETCH_SERVICE, service_path(sid)))
        for sid in known.sids(State.GONE):
            assert invoke(FETCH_SERVICE, service_path(sid)).status == 404
        known.listed(invoke(LIST_SERVICES, "/v1/Services", query={"PageSize": 1000}))
    summary = (
        f"{faults.summary()}; {len(clocked.durations)} requests, {known.acknowledged} "
        f"acknowledged writes, {known.refusals} refusals"
    )
    print(summary)
    assert known.acknowledged > STEPS // 4, summary
    assert known.refusals > 0, summary
    assert not clocked.overran(), f"invocations past their timeout: {clocked.overran()}"
    with faults.paused():
        PurgeQueue(clocked, aws).drain()  # leave no message to other tests


def test_given_dynamodb_faults_while_deleted_services_are_purged_then_they_are_purged_to_the_last_item_and_live_ones_are_untouched(  # noqa: E501
    inject: Inject, clocked: ClockedFunctions, functions, invoke, dynamodb, aws
):
    queue = PurgeQueue(clocked, aws)
    queue.drain()  # what other tests left
    caller = new_account()
    doomed = [service_with_bindings(invoke, caller, PURGE_PAGE + 5) for _ in range(2)]
    live = service_with_bindings(invoke, caller, 12)
    for sid in doomed:
        assert invoke(DELETE_SERVICE, service_path(sid), account=caller.sid).status == 204
    faults = inject(seed=21, rate=0.5)

    # Failed deliveries follow each other at once here, not a visibility timeout apart: a
    # message may run out of deliveries and be dead-lettered, and is then redriven.
    queue.drain(redrive=doomed)

    with faults.paused():
        for sid in doomed:
            assert items_of(dynamodb, sid) == [], f"{sid} is not purged"
        audit = assert_service_consistent(dynamodb, "BindingsTable", "BindingIndexTable", live)
        assert len(audit.sids) == 12
        listed = invoke(LIST, bindings_path(live), query={"PageSize": 1000}, account=caller.sid)
        assert len(listed.json()["bindings"]) == 12
    summary = f"{faults.summary()}; purge queue: {queue}"
    print(summary)
    assert faults.total_injected > 50, summary
    assert queue.failures > 0, summary
    assert not clocked.overran(), f"invocations past their timeout: {clocked.overran()}"


def test_given_dynamodb_calls_slowed_by_timeouts_when_a_purge_runs_out_of_time_mid_page_then_it_hands_on_and_finishes(  # noqa: E501
    inject: Inject, clocked: ClockedFunctions, functions, invoke, dynamodb, aws
):
    queue = PurgeQueue(clocked, aws)
    queue.drain()
    caller = new_account()
    sid = service_with_bindings(invoke, caller, 60)
    assert invoke(DELETE_SERVICE, service_path(sid), account=caller.sid).status == 204
    # Each of the next 12 calls loses two attempts to 2 s read timeouts: the page of 12
    # calls would take about 50 s, and an invocation left with 30 s may spend 20 on it.
    faults = inject(seed=22, rate=0.0, script=["ReadTimeoutError", "ReadTimeoutError", None] * 12)
    clocked.spent = 300 - 30

    queue.drain()

    assert queue.failures == 0, f"a failed message: {queue}"
    assert queue.deliveries > 1, f"no hand-over: {queue}"
    assert faults.injected == {"ReadTimeoutError": 24}, faults.summary()
    assert items_of(dynamodb, sid) == []
    assert not clocked.overran(), f"invocations past their timeout: {clocked.overran()}"


def test_given_dynamodb_failing_after_a_page_was_purged_then_the_purge_hands_on_rather_than_fail_its_message(  # noqa: E501
    inject: Inject, clocked: ClockedFunctions, functions, invoke, dynamodb, aws
):
    queue = PurgeQueue(clocked, aws)
    queue.drain()
    caller = new_account()
    sid = service_with_bindings(invoke, caller, PURGE_PAGE + 5)
    assert invoke(DELETE_SERVICE, service_path(sid), account=caller.sid).status == 204
    # The first page goes through: a query, 16 batches of 25 tag, combination and address
    # items (tags x and apn, and [apn, x]: 3 items per binding, and its address), 4 of SID items.
    # Every attempt of the next page's query fails.
    page = [None] * (1 + 16 + 4)
    faults = inject(seed=23, rate=0.0, script=[*page, *["InternalServerError"] * 3])

    queue.drain()

    assert (queue.deliveries, queue.failures) == (2, 0), f"not one hand-over: {queue}"
    assert faults.injected == {"InternalServerError": 3}, faults.summary()
    assert items_of(dynamodb, sid) == []


def service_with_bindings(invoke: Invoker, caller: Credentials, bindings: int) -> str:
    sid: str = invoke(CREATE_SERVICE, "/v1/Services", account=caller.sid).json()["sid"]
    for n in range(bindings):
        form = {"Identity": f"u{n % 10}", "BindingType": "apn", "Address": f"t{n}", "Tag": "x"}
        assert invoke(CREATE, bindings_path(sid), form=form, account=caller.sid).status == 201
    return sid


@dataclass
class PurgeQueue:
    """The purge queue, its messages delivered to the purge function as Lambda's poller
    would, one at a time; a failed one again (as when its visibility timeout ends), until the
    queue (a redrive of its dead letters included) is empty."""

    clocked: ClockedFunctions
    aws: Any
    deliveries: int = 0
    failures: int = 0
    dead_lettered: int = 0

    def __str__(self) -> str:
        return (
            f"{self.deliveries} deliveries, {self.failures} failed, "
            f"{self.dead_lettered} dead-lettered and redriven"
        )

    def drain(self, redrive: list[str] | None = None, limit: int = 400) -> None:
        sqs = boto3.client("sqs")
        queue = self.aws["ServicePurgeQueue"]
        self.deliveries = self.failures = 0
        while True:
            found = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=1)
            messages = found.get("Messages", [])
            if not messages and not (redrive and self._redrive(sqs, redrive)):
                return
            if not messages:
                continue
            self.deliveries += 1
            assert self.deliveries <= limit, "the purge does not finish"
            (message,) = messages
            try:
                response = self.clocked.invoke(PURGE, sqs_event(messages, queue.arn))
            except BatchProcessingError:  # Powertools raises when the whole batch failed
                response = {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
            if response["batchItemFailures"]:
                assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
                self.failures += 1
                sqs.change_message_visibility(
                    QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])

    def _redrive(self, sqs: Any, service_sids: list[str]) -> bool:
        """Move the dead letters about these Services back to the queue; whether any were."""
        dead = self.aws["ServicePurgeDeadLetterQueue"].url
        found = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10).get("Messages", [])
        moved = False
        for message in found:
            if any(sid in message["Body"] for sid in service_sids):
                sqs.send_message(
                    QueueUrl=self.aws["ServicePurgeQueue"].url, MessageBody=message["Body"]
                )
                sqs.delete_message(QueueUrl=dead, ReceiptHandle=message["ReceiptHandle"])
                self.dead_lettered += 1
                moved = True
            else:
                sqs.change_message_visibility(
                    QueueUrl=dead, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        return moved


def items_of(dynamodb: Any, service_sid: str) -> list[object]:
    found = []
    for table in ("BindingsTable", "BindingIndexTable", "ServicesTable"):
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            found += [item for item in page["Items"] if service_sid in json.dumps(item)]
    return found
