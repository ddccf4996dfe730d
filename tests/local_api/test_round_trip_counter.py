"""The round-trip counter of local_api.round_trips counts what a client sends, and only that."""

from __future__ import annotations

from typing import Any

import pytest

from local_api.round_trips import RoundTrips, counting
from tests.faults.injector import FaultInjector, VirtualClock

TABLE = "ServicesTable"
KEY = {"AccountSid": {"S": "AC-round-trips"}, "Sid": {"S": "IS-round-trips"}}


def test_given_requests_inside_and_outside_the_block_then_only_those_inside_count_by_operation(
    dynamodb: Any,
):
    dynamodb.get_item(TableName=TABLE, Key=KEY)

    with counting(dynamodb) as trips:
        dynamodb.put_item(TableName=TABLE, Item=KEY)
        dynamodb.get_item(TableName=TABLE, Key=KEY)
        dynamodb.get_item(TableName=TABLE, Key=KEY)
    dynamodb.delete_item(TableName=TABLE, Key=KEY)

    assert trips.by_operation == {"GetItem": 2, "PutItem": 1}
    assert trips.total == 3
    assert repr(trips) == "3 round trip(s): GetItem 2, PutItem 1"


def test_given_an_attempt_that_botocore_retries_then_each_attempt_counts(dynamodb: Any):
    failing_once = FaultInjector(0, 0.0, VirtualClock(), script=["InternalServerError"])
    failing_once.install(dynamodb)
    try:
        with counting(dynamodb) as trips:
            dynamodb.get_item(TableName=TABLE, Key=KEY)
    finally:
        failing_once.uninstall()

    assert failing_once.total_injected == 1
    assert trips.by_operation == {"GetItem": 2}


def test_given_one_counter_on_two_blocks_then_it_adds_them_up(dynamodb: Any):
    trips = RoundTrips()

    for _ in range(2):
        with counting(dynamodb, trips):
            dynamodb.get_item(TableName=TABLE, Key=KEY)

    assert trips.total == 2
    trips.reset()
    assert trips.total == 0


def test_given_an_attempt_the_deadline_refuses_then_nothing_is_sent_or_counted(functions: Any):
    from notify_bindings import dependencies
    from notify_bindings.platform import deadline

    client = dependencies.dynamodb()  # guarded: no attempt may outlast the deadline

    with counting(client) as trips, deadline.within(0), pytest.raises(deadline.OutOfTime):
        client.get_item(TableName=TABLE, Key=KEY)

    assert trips.total == 0
