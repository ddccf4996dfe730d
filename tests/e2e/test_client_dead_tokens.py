"""Dead-token feedback (ours) against the local API that `make run` serves: a report over plain
HTTP (no SDK has a call for it), and reports sent to its embedded SQS queue, which the local
API polls as Lambda's event source would - the bindings the official client registered are
gone for it afterwards."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from local_api.runtime import sqs_client
from tests.e2e.support import Credentials, LocalApi

QUEUE = "DeadTokenQueue"
WAIT_SECONDS = 30


def test_given_a_binding_when_its_token_is_reported_dead_over_http_then_the_client_no_longer_finds_it(  # noqa: E501
    local_api: LocalApi, account: Credentials, bindings: Any, service_sid: str, raw_http: Any
):
    dead = bindings.create(identity="alice", binding_type="apn", address="apn-dead-token")
    kept = bindings.create(identity="alice", binding_type="fcm", address="fcm-live-token")
    url = f"{local_api.url}/v1/Services/{service_sid}/DeadTokens"
    auth = (account.username, account.password)
    form = {"Address": "apn-dead-token", "BindingSid": dead.sid, "Reason": "unregistered"}

    reply = raw_http.post(url, data=form, auth=auth, timeout=30)
    again = raw_http.post(url, data=form, auth=auth, timeout=30)

    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "account_sid": account.account_sid,
        "service_sid": service_sid,
        "binding_sid": dead.sid,
        "removed": True,
        "reason": "unregistered",
    }
    assert (again.status_code, again.json()["removed"]) == (200, False)
    with pytest.raises(TwilioRestException) as caught:
        bindings(dead.sid).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert [binding.sid for binding in bindings.list()] == [kept.sid]


def test_given_dead_tokens_sent_to_the_queue_when_the_local_api_polls_it_then_their_bindings_go(
    local_api: LocalApi, account: Credentials, bindings: Any, service_sid: str
):
    dead = [
        bindings.create(identity=f"user-{n}", binding_type="fcm", address=f"fcm-dead-{n}")
        for n in range(3)
    ]
    kept = bindings.create(identity="user-0", binding_type="fcm", address="fcm-live")
    sqs = sqs_client(local_api.dynamodb_url)  # the embedded server holds the queues too
    queue_url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    reports = [
        {"account_sid": account.account_sid, "service_sid": service_sid, "address": b.address}
        for b in dead
    ]
    entries = [
        {"Id": str(number), "MessageBody": json.dumps(report)}
        for number, report in enumerate(reports)
    ]
    entries.append({"Id": "malformed", "MessageBody": "fcm-live"})  # dropped, not retried

    sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    give_up = time.monotonic() + WAIT_SECONDS
    while (left := [b.sid for b in bindings.list()]) != [kept.sid] and time.monotonic() < give_up:
        time.sleep(0.2)
    while _messages_in(sqs, queue_url) and time.monotonic() < give_up:
        time.sleep(0.2)

    assert len(sent["Successful"]) == len(entries)
    assert left == [kept.sid]
    assert _messages_in(sqs, queue_url) == 0


def _messages_in(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())
