"""local_api.moto_patches keeps moto's semantics: the item-level rollback of transactions,
and the partition-narrowed Query."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_api import moto_patches
from local_api.runtime import dynamodb_client, embedded_dynamodb
from tests.bench.test_moto_at_scale import create_pairs_table, filled_table, pages, queries


@pytest.fixture(scope="module")
def client():
    with embedded_dynamodb() as endpoint:
        client = dynamodb_client(endpoint)
        create_pairs_table(client, "PatchedPairs")
        yield client


def key(name: str) -> dict[str, Any]:
    return {"pk": {"S": "p"}, "sk": {"S": name}}


def items(client) -> dict[str, dict[str, Any]]:
    found = client.scan(TableName="PatchedPairs", ConsistentRead=True)["Items"]
    return {item["sk"]["S"]: item for item in found}


def test_given_the_patch_then_moto_uses_it():
    from moto.dynamodb.models import DynamoDBBackend

    moto_patches.install()
    moto_patches.install()  # twice is once

    assert getattr(DynamoDBBackend.transact_write_items, "item_level_rollback", False)


def test_given_a_cancelled_transaction_then_every_item_it_touched_is_as_before(client):
    client.put_item(TableName="PatchedPairs", Item={**key("kept"), "v": {"N": "1"}})
    client.put_item(TableName="PatchedPairs", Item={**key("updated"), "v": {"N": "1"}})
    client.put_item(TableName="PatchedPairs", Item={**key("deleted"), "v": {"N": "1"}})
    client.put_item(TableName="PatchedPairs", Item={**key("bystander"), "v": {"N": "7"}})
    before = items(client)

    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "PatchedPairs", "Item": {**key("new"), "v": {"N": "2"}}}},
                {"Put": {"TableName": "PatchedPairs", "Item": {**key("kept"), "v": {"N": "2"}}}},
                {
                    "Update": {
                        "TableName": "PatchedPairs",
                        "Key": key("updated"),
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": "PatchedPairs", "Key": key("deleted")}},
                {
                    "ConditionCheck": {
                        "TableName": "PatchedPairs",
                        "Key": key("bystander"),
                        "ConditionExpression": "v = :other",
                        "ExpressionAttributeValues": {":other": {"N": "8"}},
                    }
                },
            ]
        )

    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert items(client) == before


def test_given_a_transaction_that_succeeds_then_all_of_it_is_applied(client):
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "PatchedPairs", "Item": {**key("a"), "v": {"N": "1"}}}},
            {
                "Update": {
                    "TableName": "PatchedPairs",
                    "Key": key("b"),
                    "UpdateExpression": "ADD v :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    )

    found = items(client)
    assert found["a"]["v"] == {"N": "1"}
    assert found["b"]["v"] == {"N": "1"}


@contextmanager
def motos_own_query() -> Iterator[None]:
    """moto's Table.query, unpatched, meanwhile."""
    from moto.dynamodb.models.table import Table

    patched = Table.query
    Table.query = moto_patches.motos_query()  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = patched  # type: ignore[method-assign]


def test_given_the_query_patch_when_querying_then_answers_and_counts_are_motos(dynamodb):
    # Given a table with a partition past moto's 1 MB a request, and the same queries asked
    # of moto's own code (key ranges, limits, filters, no sort-key condition, backwards)
    with filled_table(dynamodb, "PatchedQueries") as table:
        requests = list(queries(table))
        with motos_own_query():
            expected = [pages(dynamodb, request) for request in requests]

        # When the patched query answers them
        answered = [pages(dynamodb, request) for request in requests]

    # Then every page, count and LastEvaluatedKey is moto's own
    assert answered == expected
    assert any(len(answer) > 3 for answer in expected)


def test_given_writes_between_pages_when_paging_then_the_patched_query_sees_them_as_moto_does(
    dynamodb,
):
    # Given a partition paged 4 items at a time, and writes ahead of the reader between pages:
    # an item replaced, one deleted, one inserted
    client, table = dynamodb, "PagedWhileWritten"
    create_pairs_table(client, table)

    def walk(partition: str) -> list[dict[str, Any]]:
        for n in range(20):
            item = {"pk": {"S": partition}, "sk": {"S": f"k{n:02d}"}, "v": {"N": str(n)}}
            client.put_item(TableName=table, Item=item)
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "Limit": 4,
        }
        answers, page = [], 0
        while True:
            response = client.query(**request)
            answers.append({k: response.get(k) for k in ("Items", "Count", "ScannedCount")})
            if "LastEvaluatedKey" not in response:
                return answers
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            page += 1
            key = {"pk": {"S": partition}, "sk": {"S": f"k{page * 4 + 1:02d}"}}
            client.put_item(TableName=table, Item={**key, "v": {"N": "-1"}})
            client.delete_item(
                TableName=table,
                Key={"pk": {"S": partition}, "sk": {"S": f"k{page * 4 + 2:02d}"}},
            )
            new = {"pk": {"S": partition}, "sk": {"S": f"k{page * 4 + 2:02d}x"}}
            client.put_item(TableName=table, Item={**new, "v": {"N": "99"}})

    try:
        with motos_own_query():
            expected = walk("own")

        # When the patched query pages the same partition through the same writes
        answered = walk("patched")
    finally:
        client.delete_table(TableName=table)

    # Then it answers what moto answers
    def renamed(answers: list[dict[str, Any]]) -> str:
        return json.dumps(answers, sort_keys=True).replace('"patched"', '"own"')

    assert renamed(answered) == renamed(expected)
    assert {"S": "k05"} in [item["sk"] for answer in answered for item in answer["Items"]]
