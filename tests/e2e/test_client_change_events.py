"""Change events and expiry through the local API, as `make run` serves them: the official
client's writes reach the bindings table, its stream reaches PublishChangesFunction (the local
event source), and the events reach the change-event bus of the embedded server - read here
through a rule to a queue, as a consumer would. Expiry: a Service's BindingTtlDays (our
extension, so a plain form POST), and the local TTL sweeper deleting a binding whose ExpiresAt
has passed."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
import requests

from local_api.runtime import LOCAL_CREDENTIALS, LOCAL_REGION
from tests.e2e.support import Credentials, LocalApi

WAIT_SECONDS = 30
BUS = "ChangeEventBus"


def aws(local_api: LocalApi, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=local_api.dynamodb_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def tap(local_api: LocalApi) -> str:
    sqs, events = aws(local_api, "sqs"), aws(local_api, "events")
    url = sqs.create_queue(QueueName="e2e-change-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="e2e-changes",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": ["notify-bindings"]}),
    )
    events.put_targets(
        Rule="e2e-changes", EventBusName=BUS, Targets=[{"Id": "tap", "Arn": arn["QueueArn"]}]
    )
    return str(url)


def wait_for_events(local_api: LocalApi, tap: str, service_sid: str, count: int) -> list[Any]:
    sqs = aws(local_api, "sqs")
    mine: list[Any] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while len(mine) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=tap, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            event = json.loads(message["Body"])
            if event["detail"]["service_sid"] == service_sid:
                mine.append(event)
                sqs.delete_message(QueueUrl=tap, ReceiptHandle=message["ReceiptHandle"])
        time.sleep(0.2)
    return mine


def test_given_the_clients_create_replace_and_delete_when_the_local_api_runs_then_their_events_reach_the_bus_in_order(  # noqa: E501
    local_api, twilio_client, service_sid, tap
):
    bindings = twilio_client.notify.v1.services(service_sid).bindings
    first = bindings.create(identity="alice", binding_type="fcm", address="fcm-token-1")
    second = bindings.create(identity="bob", binding_type="fcm", address="fcm-token-1")
    bindings(second.sid).delete()

    events = wait_for_events(local_api, tap, service_sid, 3)

    assert [(e["detail"]["change"], e["detail"]["binding_sid"]) for e in events] == [
        ("created", first.sid),
        ("replaced", second.sid),
        ("deleted", second.sid),
    ]
    assert "fcm-token-1" not in json.dumps(events)


def test_given_a_service_with_a_binding_ttl_when_a_binding_expires_then_the_local_ttl_removes_it_everywhere_and_says_so(  # noqa: E501
    local_api, twilio_client, account: Credentials, service_sid, tap
):
    path = f"{local_api.url}/v1/Services/{service_sid}"
    auth = (account.username, account.password)
    updated = requests.post(path, data={"BindingTtlDays": "30"}, auth=auth, timeout=10)
    assert updated.json()["binding_ttl_days"] == 30
    bindings = twilio_client.notify.v1.services(service_sid).bindings
    binding = bindings.create(identity="carol", binding_type="apn", address="apn-token", tag=["x"])
    wait_for_events(local_api, tap, service_sid, 1)

    dynamodb = aws(local_api, "dynamodb")
    key = {"ServiceSid": {"S": service_sid}, "Address": {"S": "apn-token"}}
    stored = dynamodb.get_item(TableName="BindingsTable", Key=key)["Item"]
    assert int(stored["ExpiresAt"]["N"]) > time.time() + 29 * 86_400
    # Thirty days on: its ExpiresAt has passed.
    dynamodb.update_item(
        TableName="BindingsTable",
        Key=key,
        UpdateExpression="SET ExpiresAt = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )

    (expired,) = wait_for_events(local_api, tap, service_sid, 1)

    assert expired["detail"]["change"] == "expired"
    assert expired["detail"]["binding_sid"] == binding.sid
    assert expired["detail-type"] == "Binding Expired"
    assert list(bindings.list(tag="x")) == []
    assert list(bindings.list(identity="carol")) == []
