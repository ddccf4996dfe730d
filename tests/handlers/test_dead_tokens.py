"""Dead-token feedback (ours): ReportDeadTokenFunction behind `POST .../DeadTokens`, and
ReportDeadTokensFunction fed by DeadTokenQueue - invoked directly with SQS batches, and by the
local API's SQS poller against moto's queue. Each test ends with the invariant audit of the
Service: a removal leaves nothing half done."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from local_api.event_sources import SqsPoller
from local_api.events import LambdaContext, sqs_event
from local_api.runtime import LocalFunctions, LocalQueue, sqs_client
from notify_bindings import dependencies
from notify_bindings.domain.bindings import Removal
from notify_bindings.platform.errors import Throttled, Unavailable
from notify_bindings.platform.sids import new_sid
from tests.conftest import Credentials, Invoker, new_account, new_service
from tests.handlers.helpers import FETCH, bindings_path, create
from tests.invariants import ServiceAudit, assert_service_consistent

REPORT = "ReportDeadTokenFunction"
CONSUMER = "ReportDeadTokensFunction"
QUEUE = "DeadTokenQueue"
BINDINGS_TABLE, INDEX_TABLE = "BindingsTable", "BindingIndexTable"


def dead_tokens_path(service_sid: str) -> str:
    return f"/v1/Services/{service_sid}/DeadTokens"


def audit(service_sid: str) -> ServiceAudit:
    return assert_service_consistent(
        dependencies.dynamodb(), BINDINGS_TABLE, INDEX_TABLE, service_sid
    )


def removal_of(service_sid: str, sid: str) -> tuple[Removal, str | None] | None:
    return dependencies.binding_store().removal_of(service_sid, [sid]).get(sid)


def fetched(invoke: Invoker, service_sid: str, sid: str) -> int:
    return invoke(FETCH, f"{bindings_path(service_sid)}/{sid}").status


# -- over HTTP --------------------------------------------------------------------------------


def test_given_a_binding_when_its_address_is_reported_dead_then_200_it_is_removed_and_why_is_recorded(  # noqa: E501
    invoke, account, service_sid
):
    dead = create(invoke, service_sid, Address="token-dead", Tag=["news", "vip"])
    kept = create(invoke, service_sid, Address="token-kept")  # the same identity's other one

    reply = invoke(REPORT, dead_tokens_path(service_sid), form={"Address": "token-dead"})

    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {
        "account_sid": account.sid,
        "service_sid": service_sid,
        "binding_sid": dead["sid"],
        "removed": True,
        "reason": "unregistered",
    }
    assert "token-dead" not in reply.body
    assert fetched(invoke, service_sid, dead["sid"]) == 404
    assert fetched(invoke, service_sid, kept["sid"]) == 200
    assert removal_of(service_sid, dead["sid"]) == (Removal.DEAD_ADDRESS, "unregistered")
    assert audit(service_sid).sids_by_identity == {"alice": (kept["sid"],)}


def test_given_the_binding_sid_and_reason_invalid_when_reported_then_that_binding_is_removed(
    invoke, service_sid
):
    dead = create(invoke, service_sid, BindingType="fcm", Address="fcm-token")
    form = {"Address": "fcm-token", "BindingSid": dead["sid"], "Reason": "invalid"}

    reply = invoke(REPORT, dead_tokens_path(service_sid), form=form)

    assert reply.status == 200, reply.body
    assert (reply.json()["binding_sid"], reply.json()["removed"]) == (dead["sid"], True)
    assert reply.json()["reason"] == "invalid"
    assert removal_of(service_sid, dead["sid"]) == (Removal.DEAD_ADDRESS, "invalid")
    assert audit(service_sid).sids == frozenset()


def test_given_the_address_re_registered_since_when_the_old_binding_sid_is_reported_then_the_new_binding_stays(  # noqa: E501
    invoke, service_sid
):
    old = create(invoke, service_sid, Identity="alice", Address="token-1")
    new = create(invoke, service_sid, Identity="bob", Address="token-1")  # replaces the old one
    form = {"Address": "token-1", "BindingSid": old["sid"]}

    reply = invoke(REPORT, dead_tokens_path(service_sid), form=form)

    assert reply.status == 200, reply.body
    assert (reply.json()["binding_sid"], reply.json()["removed"]) == (None, False)
    assert fetched(invoke, service_sid, new["sid"]) == 200
    assert removal_of(service_sid, new["sid"]) is None
    assert audit(service_sid).sid_by_address == {"token-1": new["sid"]}


def test_given_no_binding_at_the_address_when_reported_then_200_and_nothing_removed(
    invoke, service_sid
):
    kept = create(invoke, service_sid, Address="token-kept")

    reply = invoke(REPORT, dead_tokens_path(service_sid), form={"Address": "token-unknown"})

    assert reply.status == 200, reply.body
    assert (reply.json()["binding_sid"], reply.json()["removed"]) == (None, False)
    assert audit(service_sid).sid_by_address == {"token-kept": kept["sid"]}


def test_given_a_dead_token_reported_when_reported_again_then_nothing_more_is_removed(
    invoke, service_sid
):
    dead = create(invoke, service_sid, Address="token-dead")
    kept = create(invoke, service_sid, Identity="bob", Address="token-kept")
    first = invoke(REPORT, dead_tokens_path(service_sid), form={"Address": "token-dead"})

    again = invoke(REPORT, dead_tokens_path(service_sid), form={"Address": "token-dead"})

    assert first.json()["removed"] is True
    assert again.status == 200, again.body
    assert (again.json()["binding_sid"], again.json()["removed"]) == (None, False)
    assert removal_of(service_sid, dead["sid"]) == (Removal.DEAD_ADDRESS, "unregistered")
    assert audit(service_sid).sid_by_address == {"token-kept": kept["sid"]}


def test_given_an_unknown_service_when_a_dead_token_is_reported_then_404_20404(invoke):
    unknown = new_sid("IS")

    reply = invoke(REPORT, dead_tokens_path(unknown), form={"Address": "token-1"})

    assert reply.status == 404
    assert reply.json() == {
        "code": 20404,
        "message": f"The requested resource /Services/{unknown}/DeadTokens was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }


def test_given_another_accounts_service_when_its_binding_is_reported_dead_then_404_and_it_stays(
    functions: LocalFunctions, invoke
):
    other = Invoker(functions, new_account().sid)
    theirs = new_service(other.account or "")
    binding = create(other, theirs, Address="their-token")

    reply = invoke(REPORT, dead_tokens_path(theirs), form={"Address": "their-token"})

    assert reply.status == 404
    assert reply.json()["code"] == 20404
    assert fetched(other, theirs, binding["sid"]) == 200
    assert audit(theirs).sid_by_address == {"their-token": binding["sid"]}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, "Missing required parameter Address in the post body"),
        ({"Address": ""}, "Parameter 'Address' is invalid"),
        ({"Address": "x" * 513}, "Parameter 'Address' is invalid"),
        ({"Address": "token-1\n"}, "Parameter 'Address' is invalid"),
        ({"Address": "token-1", "Reason": "expired"}, "Parameter 'Reason' is invalid"),
        ({"Address": "token-1", "BindingSid": "BS123"}, "Parameter 'BindingSid' is invalid"),
        ([("Address", "token-1"), ("Address", "token-2")], "given at most once"),
    ],
    ids=["no address", "empty", "too long", "control", "reason", "binding sid", "twice"],
)
def test_given_bad_input_when_a_dead_token_is_reported_then_400_20001_and_nothing_is_removed(
    invoke, service_sid, form, message
):
    binding = create(invoke, service_sid, Address="token-1")

    reply = invoke(REPORT, dead_tokens_path(service_sid), form=form)

    assert reply.status == 400
    assert reply.json()["code"] == 20001
    assert message in reply.json()["message"]
    assert fetched(invoke, service_sid, binding["sid"]) == 200
    assert removal_of(service_sid, binding["sid"]) is None
    assert audit(service_sid).sid_by_address == {"token-1": binding["sid"]}


def test_given_a_json_body_when_a_dead_token_is_reported_then_400_like_every_form_route(
    invoke, service_sid
):
    binding = create(invoke, service_sid, Address="token-1")

    reply = invoke(
        REPORT,
        dead_tokens_path(service_sid),
        body=json.dumps({"Address": "token-1"}).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert (reply.status, reply.json()["code"]) == (400, 20001)
    assert audit(service_sid).sid_by_address == {"token-1": binding["sid"]}


def test_given_the_address_replaced_between_the_look_and_the_removal_then_the_new_binding_stays(
    invoke, account, service_sid
):
    """The store reads the binding at the address, then removes it in a transaction guarded by
    its SID. A registration that replaces it in between cancels that transaction; looking
    again finds the newcomer, registered after the report: it must not be removed."""
    create(invoke, service_sid, Identity="alice", Address="token-1")
    client = dependencies.dynamodb()
    replaced: list[str] = []

    def replace_first(**_: Any) -> None:
        if not replaced:
            replaced.append("")  # once: the create below runs a transaction too
            newcomer = create(invoke, service_sid, Identity="bob", Address="token-1")
            replaced[0] = newcomer["sid"]

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", replace_first)
    try:
        reply = invoke(REPORT, dead_tokens_path(service_sid), form={"Address": "token-1"})
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", replace_first)

    assert reply.status == 200, reply.body
    assert (reply.json()["binding_sid"], reply.json()["removed"]) == (None, False)
    assert audit(service_sid).sid_by_address == {"token-1": replaced[0]}


# -- through the queue --------------------------------------------------------------------------


def message(body: str) -> dict[str, Any]:
    """A message as SQS's ReceiveMessage hands it over."""
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "Attributes": {"ApproximateReceiveCount": "1"},
    }


def dead(account_sid: str, service_sid: str, address: str, **fields: Any) -> str:
    return json.dumps(
        {"account_sid": account_sid, "service_sid": service_sid, "address": address, **fields}
    )


class FailingStore:
    """The real store, but DynamoDB failing for some addresses: throttled, unavailable, or in
    a way no domain error describes (saying what address it was given)."""

    def __init__(self, failures: dict[str, Exception]) -> None:
        self.store = dependencies.binding_store()
        self.failures = failures

    def remove_dead_address(self, account_sid: str, service_sid: str, address: str, **how: Any):
        if address in self.failures:
            raise self.failures[address]
        return self.store.remove_dead_address(account_sid, service_sid, address, **how)


def consume(functions: LocalFunctions, messages: list[dict[str, Any]], **context: Any) -> Any:
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:DeadTokenQueue")
    if not context:
        return functions.invoke(CONSUMER, event)
    handler = functions.functions[CONSUMER].load_handler()
    return handler(event, LambdaContext(CONSUMER, **context))


def test_given_a_batch_of_good_malformed_and_failing_messages_when_consumed_then_only_the_failed_for_now_come_back(  # noqa: E501
    functions, invoke, account, service_sid, monkeypatch
):
    good = create(invoke, service_sid, Identity="alice", Address="token-good")
    pinned = create(invoke, service_sid, Identity="alice", Address="token-pinned")
    throttled = create(invoke, service_sid, Identity="bob", Address="token-throttled")
    unavailable = create(invoke, service_sid, Identity="bob", Address="token-unavailable")
    exploding = create(invoke, service_sid, Identity="bob", Address="token-exploding")
    me = account.sid
    batch = {
        "good": message(dead(me, service_sid, "token-good")),
        "pinned": message(
            dead(me, service_sid, "token-pinned", binding_sid=pinned["sid"], reason="invalid")
        ),
        "null reason": message(dead(me, service_sid, "token-unheld", reason=None)),
        "not json": message("token-good, please"),
        "no address": message(json.dumps({"account_sid": me, "service_sid": service_sid})),
        "misspelt field": message(dead(me, service_sid, "token-good", bindingSid="BS1")),
        "bad reason": message(dead(me, service_sid, "token-good", reason="gone")),
        "unknown service": message(dead(me, new_sid("IS"), "token-good")),
        "another account": message(dead(new_sid("AC"), service_sid, "token-good")),
        "throttled": message(dead(me, service_sid, "token-throttled")),
        "unavailable": message(dead(me, service_sid, "token-unavailable")),
        "exploding": message(dead(me, service_sid, "token-exploding")),
    }
    failing = FailingStore(
        {
            "token-throttled": Throttled(),
            "token-unavailable": Unavailable(),
            "token-exploding": RuntimeError("could not remove token-exploding"),
        }
    )
    monkeypatch.setattr(dependencies, "binding_store", lambda: failing)

    response = consume(functions, list(batch.values()))

    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    assert failed == {
        batch[name]["MessageId"] for name in ("throttled", "unavailable", "exploding")
    }
    monkeypatch.undo()
    assert fetched(invoke, service_sid, good["sid"]) == 404
    assert fetched(invoke, service_sid, pinned["sid"]) == 404
    assert removal_of(service_sid, good["sid"]) == (Removal.DEAD_ADDRESS, "unregistered")
    assert removal_of(service_sid, pinned["sid"]) == (Removal.DEAD_ADDRESS, "invalid")
    left = {throttled["sid"], unavailable["sid"], exploding["sid"]}
    assert audit(service_sid).sids == left


def test_given_a_failed_message_when_delivered_again_and_dynamodb_is_back_then_it_succeeds(
    functions, invoke, account, service_sid, monkeypatch
):
    binding = create(invoke, service_sid, Address="token-1")
    sent = message(dead(account.sid, service_sid, "token-1"))
    failing = FailingStore({"token-1": Unavailable()})
    monkeypatch.setattr(dependencies, "binding_store", lambda: failing)
    first = consume(functions, [sent])
    monkeypatch.undo()

    again = consume(functions, [sent])

    assert first == {"batchItemFailures": [{"itemIdentifier": sent["MessageId"]}]}
    assert again == {"batchItemFailures": []}
    assert fetched(invoke, service_sid, binding["sid"]) == 404
    assert audit(service_sid).sids == frozenset()


def test_given_a_batch_that_arrives_with_no_time_left_then_every_message_comes_back_untouched(
    functions, invoke, account, service_sid
):
    """The deadline: no DynamoDB call starts that could not end before the timeout, so
    every message fails at once, rather than Lambda cutting the invocation off."""
    sids = [create(invoke, service_sid, Address=f"token-{n}")["sid"] for n in range(3)]
    batch = [message(dead(account.sid, service_sid, f"token-{n}")) for n in range(3)]

    response = consume(functions, batch, timeout_seconds=0)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": sent["MessageId"]} for sent in batch]
    }
    assert audit(service_sid).sids == frozenset(sids)


def test_given_messages_on_the_queue_when_the_local_apis_poller_runs_then_bindings_go_and_the_queue_is_empty(  # noqa: E501
    functions, aws: dict[str, LocalQueue], invoke, account: Credentials, service_sid
):
    """The template's event source, as `make run` runs it: the poller receives a batch from
    moto's DeadTokenQueue, invokes the consumer, and deletes what it processed (the dropped
    malformed message too)."""
    queue = aws[QUEUE]
    (source,) = functions.functions[CONSUMER].sqs_sources
    assert source.queue == QUEUE
    client = sqs_client(None)
    sids = [create(invoke, service_sid, Address=f"token-{n}")["sid"] for n in range(3)]
    for n in range(2):
        client.send_message(
            QueueUrl=queue.url, MessageBody=dead(account.sid, service_sid, f"token-{n}")
        )
    client.send_message(QueueUrl=queue.url, MessageBody="not a message")
    poller = SqsPoller(functions, CONSUMER, source, queue, client)

    received = 0
    while polled := poller.poll_once():
        received += polled

    assert received == 3
    attributes = client.get_queue_attributes(
        QueueUrl=queue.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    assert audit(service_sid).sids == {sids[2]}
