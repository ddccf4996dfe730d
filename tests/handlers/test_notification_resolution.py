"""Resolution's cost against moto, a few hundred bindings: items DynamoDB reads per recipient
(from each answer's ScannedCount, and the items of each BatchGetItem and GetItem), no Scan,
and batches of DELIVERY_BATCH_SIZE; and a resolution continued by a second function
when the first runs short of time, with nothing counted or queued twice."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local_api.events import sqs_event
from notify_bindings import dependencies
from notify_bindings.dal.bindings.items import many_tags_partition
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import DELIVERY_BATCH_SIZE, DeliveryBatch, ResolutionTask
from notify_bindings.operations import resolution
from tests.conftest import new_service
from tests.factories import new_binding, put_binding
from tests.handlers.test_notifications import drain, fetched, notify

RESOLVE = "ResolveNotificationFunction"


@contextmanager
def reads_counted() -> Iterator[Counter[str]]:
    """Items read by the functions' DynamoDB client meanwhile, by operation."""
    counted: Counter[str] = Counter()
    client = dependencies.dynamodb()

    def tally(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name in ("Query", "Scan"):
            counted[name] += parsed.get("ScannedCount", 0)
        elif name == "BatchGetItem":
            counted[name] += sum(len(items) for items in parsed.get("Responses", {}).values())
        elif name == "GetItem":
            counted[name] += 1 if "Item" in parsed else 0

    client.meta.events.register("after-call.dynamodb", tally)
    try:
        yield counted
    finally:
        client.meta.events.unregister("after-call.dynamodb", tally)


def populate(account_sid: str, service_sid: str, count: int, *, tag: str) -> None:
    store = dependencies.binding_store()
    kinds = [BindingType.APN, BindingType.FCM, BindingType.SMS]
    for n in range(count):
        kind = kinds[n % 3]
        address = f"+1555{n:07d}" if kind is BindingType.SMS else f"token-{n:05d}"
        binding = new_binding(
            service_sid,
            f"user{n}",
            address,
            account_sid=account_sid,
            binding_type=kind,
            tags=(tag,),
        )
        put_binding(store, binding)
    # Bindings without the tag, which a read by the tag must not touch.
    for n in range(count // 2):
        put_binding(
            store, new_binding(service_sid, f"other{n}", f"other-{n}", account_sid=account_sid)
        )


def resolve_all(functions: Any, aws: Any, sid: str) -> list[DeliveryBatch]:
    while tasks := drain(aws["ResolveQueue"], sid):
        for task in tasks:
            assert functions.invoke(RESOLVE, sqs_event([task], aws["ResolveQueue"].arn)) == {
                "batchItemFailures": []
            }
    return [DeliveryBatch.from_message(m["Body"]) for m in drain(aws["DeliveryQueue"], sid)]


def test_given_a_tag_of_300_bindings_when_resolved_then_at_most_1_05_items_are_read_per_recipient(
    invoke, account, aws, functions
):
    service_sid = new_service(account.sid)
    populate(account.sid, service_sid, 300, tag="everyone")
    sid = notify(invoke, service_sid, {"Tag": "everyone", "Body": "Hi"})["sid"]

    with reads_counted() as reads:
        batches = resolve_all(functions, aws, sid)

    recipients = [r for batch in batches for r in batch.recipients]
    assert len(recipients) == len({r.address for r in recipients}) == 300
    assert reads["Scan"] == 0
    assert sum(reads.values()) / 300 <= 1.05, reads
    assert all(len(batch.recipients) <= DELIVERY_BATCH_SIZE for batch in batches)
    for batch in batches:  # grouped by channel, each channel's recipients together
        kinds = [r.binding_type for r in batch.recipients]
        assert kinds == sorted(kinds)
    assert sorted(batch.sequence for batch in batches) == list(range(len(batches)))
    assert fetched(invoke, service_sid, sid)["deliveries"]["total"] == 300


def test_given_20_identities_when_resolved_then_at_most_2_items_are_read_per_recipient(
    invoke, account, aws, functions
):
    service_sid = new_service(account.sid)
    populate(account.sid, service_sid, 60, tag="t")
    identities = [f"user{n}" for n in range(20)]
    sid = notify(invoke, service_sid, [("Identity", i) for i in identities] + [("Body", "Hi")])[
        "sid"
    ]

    with reads_counted() as reads:
        batches = resolve_all(functions, aws, sid)

    recipients = [r for batch in batches for r in batch.recipients]
    assert len(recipients) == 20
    assert reads["Scan"] == 0
    assert sum(reads.values()) / 20 <= 2, reads


def test_given_a_resolver_short_of_time_when_it_continues_then_every_recipient_is_queued_once(
    invoke, account, aws, functions, monkeypatch
):
    service_sid = new_service(account.sid)
    populate(account.sid, service_sid, 250, tag="many")
    monkeypatch.setattr(resolution, "RESOLVE_PAGE_SIZE", 100)
    sid = notify(invoke, service_sid, {"Tag": "many", "Body": "Hi"})["sid"]
    (task,) = drain(aws["ResolveQueue"], sid)

    # The first function has time for one page only.
    resolution.resolve(ResolutionTask.from_message(task["Body"]), lambda: 0.0)
    (continuation,) = drain(aws["ResolveQueue"], sid)
    again = ResolutionTask.from_message(continuation["Body"])
    resolution.resolve(again, lambda: 1000.0)
    resolution.resolve(again, lambda: 1000.0)  # redelivered: nothing counted twice

    batches = [DeliveryBatch.from_message(m["Body"]) for m in drain(aws["DeliveryQueue"], sid)]
    by_sequence = {batch.sequence: batch for batch in batches}  # a repeat has the same sequence
    recipients = [r.address for batch in by_sequence.values() for r in batch.recipients]
    assert again.after is not None
    assert len(recipients) == len(set(recipients)) == 250
    assert all(
        json.loads(batch.to_message()) == json.loads(other.to_message())
        for batch in batches
        for other in [by_sequence[batch.sequence]]
    )
    deliveries = fetched(invoke, service_sid, sid)["deliveries"]
    assert deliveries["total"] == 250
    assert deliveries["pending"] == 250


@contextmanager
def partition_reads(partition: str) -> Iterator[Counter[str]]:
    """Items read (ScannedCount) and Queries made of one index partition meanwhile."""
    counted: Counter[str] = Counter()
    client = dependencies.dynamodb()
    asked: list[bool] = []

    def ask(params: dict[str, Any], model: Any, **_: Any) -> None:
        key = params.get("ExpressionAttributeValues", {}).get(":pk", {}).get("S")
        asked.append(model.name == "Query" and key == partition)

    def tally(parsed: dict[str, Any], **_: Any) -> None:
        if asked.pop():
            counted["items"] += parsed.get("ScannedCount", 0)
            counted["queries"] += 1

    client.meta.events.register("before-parameter-build.dynamodb", ask, unique_id="ask-pk")
    client.meta.events.register("after-call.dynamodb", tally, unique_id="tally-pk")
    try:
        yield counted
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb", unique_id="ask-pk")
        client.meta.events.unregister("after-call.dynamodb", unique_id="tally-pk")


def test_given_many_tag_bindings_among_a_combination_over_pages_when_resolved_then_each_many_tags_item_is_read_once(  # noqa: E501
    invoke, account, aws, functions, monkeypatch
):
    service_sid = new_service(account.sid)
    store = dependencies.binding_store()
    many = ("x", "y", "t0", "t1", "t2")  # with the type, six index tags: the many-tags partition
    wanted: list[str] = []
    held = 0
    for n in range(24):  # in creation (SID) order, the two kinds interleaved
        kind = ("many", "pair", "many", "pair", "unmatched")[n % 5]
        tags = {"many": many, "pair": ("x", "y"), "unmatched": ("t0", "t1", "t2", "t3", "t4")}[kind]
        binding = new_binding(
            service_sid, f"user{n}", f"token-{n:03d}", account_sid=account.sid, tags=tags
        )
        put_binding(store, binding)
        held += kind != "pair"
        if kind != "unmatched":
            wanted.append(binding.sid)
    monkeypatch.setattr(resolution, "RESOLVE_PAGE_SIZE", 3)
    sid = notify(invoke, service_sid, [("Tag", "x"), ("Tag", "y"), ("Body", "Hi")])["sid"]

    with partition_reads(many_tags_partition(service_sid)) as many_tags:
        batches = resolve_all(functions, aws, sid)

    queued = [r.binding_sid for batch in batches for r in batch.recipients]
    assert sorted(sid or "" for sid in queued) == sorted(wanted)
    assert many_tags["queries"] > 1  # a page at a time
    # Every page took every binding within the span of SIDs it read: a list's page of exactly
    # three would leave the many-tags bindings past its third to be read again.
    assert many_tags["items"] <= held, many_tags
