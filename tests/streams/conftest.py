"""What the stream tests share: a tap on the change-event bus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local_api.runtime import events_client, sqs_client

BUS = "ChangeEventBus"


@pytest.fixture(scope="session")
def tap(event_buses: dict[str, str]) -> Iterator[str]:
    """A queue that a rule on the bus sends every change event to; its URL."""
    sqs, events = sqs_client(None), events_client(None)
    url = sqs.create_queue(QueueName="change-events-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="every-change",
        EventBusName=event_buses[BUS],
        EventPattern=json.dumps({"source": ["notify-bindings"]}),
    )
    events.put_targets(
        Rule="every-change",
        EventBusName=event_buses[BUS],
        Targets=[{"Id": "tap", "Arn": arn["QueueArn"]}],
    )
    yield url
    sqs.delete_queue(QueueUrl=url)


class Bus:
    """What has reached the bus, read from the tap queue."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqs = sqs_client(None)
        self.arrived: list[dict[str, Any]] = []

    def events(self, service_sid: str) -> list[dict[str, Any]]:
        """The events of the Service that arrived since the last look at it, in arrival order."""
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                self.arrived.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        mine = [event for event in self.arrived if event["detail"]["service_sid"] == service_sid]
        self.arrived = [event for event in self.arrived if event not in mine]
        return mine


@pytest.fixture
def bus(tap: str) -> Bus:
    reader = Bus(tap)
    reader.events("")
    reader.arrived.clear()  # whatever earlier tests left
    return reader
