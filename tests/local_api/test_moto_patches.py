"""The item-level rollback given to moto's DynamoDB transactions keeps moto's semantics."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_api import moto_patches
from local_api.runtime import dynamodb_client, embedded_dynamodb


@pytest.fixture(scope="module")
def client():
    with embedded_dynamodb() as endpoint:
        client = dynamodb_client(endpoint)
        client.create_table(
            TableName="PatchedPairs",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
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
