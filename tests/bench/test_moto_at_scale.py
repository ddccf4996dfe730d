"""bench/moto_at_scale.py makes moto fast enough for the listing benchmark: its answers and its
counts (ScannedCount, LastEvaluatedKey) must stay moto's own, or the benchmark measures the
shortcut rather than the design."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bench import moto_at_scale

PARTITIONS = {"big": 200, "small": 30}


@pytest.fixture(scope="module")
def table(dynamodb: Any) -> Iterator[str]:
    with filled_table(dynamodb, "MotoAtScaleTest") as name:
        yield name


@contextmanager
def filled_table(dynamodb: Any, name: str) -> Iterator[str]:
    """A (pk, sk) table whose "big" partition holds more than moto's 1 MB per request."""
    create_pairs_table(dynamodb, name)
    rng = random.Random(7)
    items = [
        {
            "pk": {"S": partition},
            "sk": {"S": f"BS{number * 3:05d}"},
            "Tags": {"L": [{"S": tag} for tag in ("a", "b", "c") if rng.random() < 0.4]},
            "Blob": {"S": "x" * rng.choice((10, 300, 18000, 18000))},
        }
        for partition, count in PARTITIONS.items()
        for number in range(count)
    ]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={name: requests})
    try:
        yield name
    finally:
        dynamodb.delete_table(TableName=name)


def create_pairs_table(dynamodb: Any, name: str) -> None:
    """A table keyed by the strings pk and sk."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )


def pages(dynamodb: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every response of a query paged to its end, without their metadata."""
    request = dict(request)
    answers = []
    while True:
        response = dynamodb.query(**request)
        response.pop("ResponseMetadata")
        answers.append(response)
        if "LastEvaluatedKey" not in response or len(answers) > 500:
            return answers
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def queries(table: str) -> Iterator[dict[str, Any]]:
    for partition in PARTITIONS:
        for low, high in (("BS", "BT"), ("BS00300", "BS00600"), ("BS00301", "BS00302"),
                          ("BS00000", "BS00000"), ("BS99999", "BT")):  # fmt: skip
            for limit in (None, 23, 51) if partition == "big" else (None, 1, 7):
                for tag in (None, "a"):
                    request: dict[str, Any] = {
                        "TableName": table,
                        "ConsistentRead": True,
                        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                        "ExpressionAttributeValues": {
                            ":pk": {"S": partition},
                            ":low": {"S": low},
                            ":high": {"S": high},
                        },
                    }
                    if limit:
                        request["Limit"] = limit
                    if tag:
                        request["FilterExpression"] = "contains(Tags, :tag)"
                        request["ExpressionAttributeValues"][":tag"] = {"S": tag}
                    yield request
        yield {  # no condition on the sort key
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "Limit": 40,
        }
        yield {  # backwards: left to moto
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ScanIndexForward": False,
            "Limit": 30,
        }


def test_given_a_frozen_table_when_queried_then_answers_and_counts_are_motos(dynamodb, table):
    requests = list(queries(table))
    expected = [pages(dynamodb, request) for request in requests]

    with moto_at_scale.faster(), moto_at_scale.frozen():
        answered = [pages(dynamodb, request) for request in requests]

    assert answered == expected
    # The cases cover pages cut by moto's 1 MB, empty pages, many pages, and filters.
    unlimited = [answer for request, answer in zip(requests, expected, strict=True)
                 if "Limit" not in request]  # fmt: skip
    assert any(len(answer) > 1 for answer in unlimited)
    assert 0 in [page["ScannedCount"] for answer in expected for page in answer]
    assert any(len(answer) > 3 for answer in expected)
    assert any(page["Count"] < page["ScannedCount"] for answer in expected for page in answer)


def test_given_faster_answers_when_reading_then_they_are_what_motos_serialiser_makes(
    dynamodb, table
):
    key = {"pk": {"S": "big"}, "sk": {"S": "BS00003"}}
    requests: list[tuple[str, dict[str, Any]]] = [
        ("get_item", {"TableName": table, "Key": key}),
        ("get_item", {"TableName": table, "Key": {**key, "sk": {"S": "none"}}}),
        ("batch_get_item", {"RequestItems": {table: {"Keys": [key, {**key, "sk": {"S": "no"}}]}}}),
        ("scan", {"TableName": table, "Limit": 5}),
        ("query", next(iter(queries(table)))),
    ]

    def answers() -> list[dict[str, Any]]:
        found = [getattr(dynamodb, operation)(**request) for operation, request in requests]
        return [{k: v for k, v in answer.items() if k != "ResponseMetadata"} for answer in found]

    expected = answers()
    with moto_at_scale.faster():
        answered = answers()

    assert answered == expected
    assert expected[0]["Item"]["Blob"]
    assert "Item" not in expected[1]


def test_given_a_binary_value_held_as_bytes_when_read_faster_then_motos_serialiser_answers(
    dynamodb, table
):
    key = {"pk": {"S": "bytes"}, "sk": {"S": "one"}}
    moto_at_scale.store(table, [{**key, "Sealed": {"B": b"\x00sealed"}}])

    expected = dynamodb.get_item(TableName=table, Key=key)["Item"]
    with moto_at_scale.faster():
        answered = dynamodb.get_item(TableName=table, Key=key)["Item"]

    assert answered == expected
    assert answered["Sealed"] == {"B": b"\x00sealed"}


def test_given_items_stored_directly_then_moto_holds_them_as_batch_write_item_does(dynamodb):
    schema: dict[str, Any] = {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    }
    shared = {"Tags": {"L": [{"S": "a"}]}, "Copy": {"M": {"Sid": {"S": "BS1"}}}}
    items = [
        {"pk": {"S": f"p{n % 3}"}, "sk": {"S": f"s{n}"}, "Count": {"N": str(n)}, **shared}
        for n in range(40)
    ]
    for name in ("ThroughBatchWrite", "ThroughStore"):
        dynamodb.create_table(TableName=name, **schema)
    try:
        for start in range(0, len(items), 25):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            dynamodb.batch_write_item(RequestItems={"ThroughBatchWrite": requests})
        moto_at_scale.store("ThroughStore", items)

        def held(name: str) -> list[Any]:
            found = [
                dynamodb.query(
                    TableName=name,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"p{n}"}},
                )["Items"]
                for n in range(3)
            ]
            key = {"pk": {"S": "p1"}, "sk": {"S": "s4"}}
            found.append(dynamodb.get_item(TableName=name, Key=key)["Item"])
            return found

        assert held("ThroughStore") == held("ThroughBatchWrite")
        assert len(held("ThroughStore")[0]) == 14
    finally:
        for name in ("ThroughBatchWrite", "ThroughStore"):
            dynamodb.delete_table(TableName=name)
