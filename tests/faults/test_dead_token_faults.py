"""Dead-token feedback when DynamoDB fails: a removal whose answer was lost is still reported
as done, and a batch from the queue that DynamoDB keeps throttling comes back whole, within
the consumer's timeout, to succeed once DynamoDB is back."""

from __future__ import annotations

from local_api.events import sqs_event
from tests.conftest import Invoker
from tests.faults.conftest import ClockedFunctions, Inject
from tests.faults.injector import IN_PROGRESS, LOST
from tests.handlers.helpers import create
from tests.handlers.test_dead_tokens import CONSUMER, REPORT, dead, dead_tokens_path, message
from tests.invariants import assert_service_consistent

TRANSACTION = frozenset({"TransactWriteItems"})
APPLIED_THEN_UNKNOWN = [LOST, IN_PROGRESS, IN_PROGRESS]
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:DeadTokenQueue"


def audit(dynamodb, service_sid):
    return assert_service_consistent(dynamodb, "BindingsTable", "BindingIndexTable", service_sid)


def test_given_a_dead_token_removal_that_happened_but_whose_answers_were_lost_then_200_removed(
    inject: Inject, timed_invoke: Invoker, invoke, service_sid, dynamodb
):
    sid = create(invoke, service_sid, Address="token-dead")["sid"]
    other = create(invoke, service_sid, Address="token-kept")["sid"]
    faults = inject(seed=1, rate=0.0, operations=TRANSACTION, script=APPLIED_THEN_UNKNOWN)

    reply = timed_invoke(REPORT, dead_tokens_path(service_sid), form={"Address": "token-dead"})

    assert faults.injected == {LOST: 1, IN_PROGRESS: 2}, faults.summary()
    assert faults.lost_writes == 1, "the first attempt did not take effect"
    assert reply.status == 200, reply.body
    assert (reply.json()["binding_sid"], reply.json()["removed"]) == (sid, True)
    assert audit(dynamodb, service_sid).sids == frozenset({other})


def test_given_dynamodb_throttling_every_attempt_when_a_batch_is_consumed_then_every_message_comes_back_in_time(  # noqa: E501
    inject: Inject, clocked: ClockedFunctions, invoke, account, service_sid, dynamodb
):
    sids = {create(invoke, service_sid, Address=f"token-{n}")["sid"] for n in range(10)}
    batch = [message(dead(account.sid, service_sid, f"token-{n}")) for n in range(10)]
    faults = inject(seed=7, rate=1.0, faults=frozenset({"ThrottlingException"}))

    throttled = clocked.invoke(CONSUMER, sqs_event(batch, QUEUE_ARN))
    faults.uninstall()
    untouched = audit(dynamodb, service_sid).sids
    again = clocked.invoke(CONSUMER, sqs_event(batch, QUEUE_ARN))

    assert faults.total_injected > 0, faults.summary()
    assert throttled == {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in batch]}
    assert clocked.overran() == [], "an invocation outlasted the consumer's timeout"
    assert untouched == sids
    assert again == {"batchItemFailures": []}
    assert audit(dynamodb, service_sid).sids == frozenset()
