"""bench/listing_scale.py writes its 100,000 bindings in bulk rather than through the store:
the items it writes must be exactly those the store's transactions write for the same
bindings, and what it counts must be what DynamoDB says it read."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bench import listing_scale, moto_at_scale
from tests.conftest import new_service
from tests.invariants import assert_service_consistent

BINDINGS = 30


def held(dynamodb: Any, tables: dict[str, str], service_sid: str) -> list[str]:
    """Every item of the Service in both tables, as sorted JSON, its SID written "IS*"."""
    items = dynamodb.query(
        TableName=tables["BindingsTable"],
        KeyConditionExpression="ServiceSid = :service",
        ExpressionAttributeValues={":service": {"S": service_sid}},
    )["Items"]
    request: dict[str, Any] = {
        "TableName": tables["BindingIndexTable"],
        "FilterExpression": "begins_with(pk, :service)",
        "ExpressionAttributeValues": {":service": {"S": service_sid}},
    }
    while True:
        response = dynamodb.scan(**request)
        items += response["Items"]
        if "LastEvaluatedKey" not in response:
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return sorted(json.dumps(item, sort_keys=True).replace(service_sid, "IS*") for item in items)


def made(binding: Any, service_sid: str) -> Callable[[Any], Any]:
    """What `BindingStore.put` makes for the Service: `binding`, moved to that Service."""
    moved = replace(binding, service_sid=service_sid)
    return lambda _service: moved


def test_given_generated_bindings_when_written_in_bulk_then_the_items_are_the_stores(
    functions, account, dynamodb
):
    from notify_bindings import dependencies

    tables = {name: name for name in ("BindingsTable", "BindingIndexTable")}
    bulk, through_store = new_service(account.sid), new_service(account.sid)
    # Many bindings with many tags, so that the many-tags partition and its count appear too.
    population = listing_scale.Population.generate(
        account.sid, bulk, BINDINGS, seed=3, many_tags_share=0.3
    )
    assert any(len(binding.tags) > listing_scale.MAX_TAGS for binding in population.bindings)
    assert all(len(set(binding.tags)) == len(binding.tags) for binding in population.bindings)
    assert max(map(len, population.by_identity.values())) > 1

    def ours(items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        return [(table, item) for table, item in items if table != listing_scale.NAIVE_TABLE]

    # In two steps, as the benchmark grows its Service: by BatchWriteItem, then directly.
    half = len(population.bindings) // 2
    listing_scale.write(dynamodb, tables, ours(population.items(0, half)))
    for table, item in ours(population.items(half, len(population.bindings))):
        moto_at_scale.store(table, [item])
    store = dependencies.binding_store()
    for binding in population.bindings:
        store.put(account.sid, through_store, binding.address, made(binding, through_store))

    with moto_at_scale.faster():  # scans of the whole table, answered sooner
        assert held(dynamodb, tables, bulk) == held(dynamodb, tables, through_store)
        audit = assert_service_consistent(
            dynamodb, tables["BindingsTable"], tables["BindingIndexTable"], bulk
        )
    assert len(audit.sids) == len(population.bindings)


def test_given_a_query_and_a_batch_get_when_read_then_the_items_read_are_counted(
    functions, account, service_sid, dynamodb
):
    from notify_bindings import dependencies
    from notify_bindings.dal.services import service_key

    population = listing_scale.Population.generate(account.sid, service_sid, 20, seed=4)
    items = population.items(0, len(population.bindings))
    tables = {"BindingsTable": "BindingsTable", "BindingIndexTable": "BindingIndexTable"}
    listing_scale.write(dynamodb, tables, [i for i in items if i[0] in tables])
    client = dependencies.dynamodb()

    with listing_scale.reading(client) as (reads, trips):
        client.query(
            TableName="BindingIndexTable",
            KeyConditionExpression="pk = :pk",
            FilterExpression="#identity = :nobody",
            ExpressionAttributeNames={"#identity": "Identity"},
            ExpressionAttributeValues={":pk": {"S": service_sid}, ":nobody": {"S": "nobody"}},
            Limit=7,
        )
        client.batch_get_item(
            RequestItems={
                "ServicesTable": {"Keys": [service_key(account.sid, service_sid)]},
                "BindingIndexTable": {"Keys": [{"pk": {"S": "none"}, "sk": {"S": "none"}}]},
            }
        )

    # Seven evaluated (none returned: the filter keeps none), one found of two asked.
    assert reads.by_operation == {"Query": 7, "BatchGetItem": 1}
    assert reads.keys_asked == 2
    assert trips.total == 2
