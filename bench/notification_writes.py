"""DynamoDB writes per notification, counted, as its recipients grow: 1,000, 10,000, 100,000.

Target (performance issue II, 2): progress and counts cost at most 1 DynamoDB write per 100
recipients - writes grow with batches, not recipients (no item per delivery) - plus what the
dead bindings removed cost (none here: every address is alive).

How: one Service per size, whose bindings (one an identity, all with the tag `everyone`; 70%
apn, 25% fcm, 5% sms) are written straight into moto's tables as `BindingStore.put` writes
them (bench/moto_at_scale.py). A notification to that tag is stored and its resolution task
queued, as CreateNotificationFunction does; then ResolveNotificationFunction takes the resolve
queue's messages (continuations included) and DeliverNotificationsFunction each batch of the
delivery queue, both as Lambda invokes them, in this process. The providers are fakes that
accept every send at once (this counts DynamoDB writes, not sends: bench/delivery_throughput.py
measures sends), with the template's sends in flight. From the notification's create to its
last batch, a hook on the functions' DynamoDB client adds up every write request
(PutItem, UpdateItem, DeleteItem, TransactWriteItems, BatchWriteItem) and the items each one
writes (a transaction's items each), and the read requests with an estimate of their read
units (items' sizes as JSON, 4 KB a unit, half for eventually consistent reads) for
bench/fleet_estimate.py. No callback URL: with one, each batch adds one UpdateItem (its
SequenceId) and the last one more.

Run: .venv/bin/python -m bench.notification_writes [--sizes 1000,10000,100000]
Writes bench/results/notification_writes.json. A minute or so at 100,000 recipients.
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import moto_at_scale
from bench.listing_scale import Population, quietly
from bench.local_functions import start_functions
from local_api.events import sqs_event
from local_api.runtime import keep_aws_local, put_layers_on_path, sqs_client
from local_api.template import SamTemplate

RESULTS = Path(__file__).resolve().parent / "results" / "notification_writes.json"
TITLE = "DynamoDB writes per notification (progress and counts)"
SIZES = (1_000, 10_000, 100_000)
LIMIT_PER_100 = 1.0  # writes (items written) per 100 recipients
TAG = "everyone"
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
KINDS = (("apn", 70), ("fcm", 25), ("sms", 5))


@dataclass
class Tally:
    """What the functions' DynamoDB client did meanwhile."""

    requests: Counter[str] = field(default_factory=Counter)  # by operation
    items: Counter[str] = field(default_factory=Counter)  # items written, by operation
    read_units: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def asked(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name not in WRITES and name not in READS:
            return
        with self.lock:
            self.requests[name] += 1
            if name == "TransactWriteItems":
                written = sum(1 for item in params["TransactItems"] if "ConditionCheck" not in item)
                self.items[name] += written
            elif name == "BatchWriteItem":
                self.items[name] += sum(len(v) for v in params["RequestItems"].values())
            elif name in WRITES:
                self.items[name] += 1

    def answered(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        """Read units, estimated from the items' sizes (as JSON; DynamoDB counts names and
        values' bytes, a little less)."""
        name = model.name
        if name not in READS:
            return
        if name == "GetItem":
            units = math.ceil(len(json.dumps(parsed.get("Item", {}))) / 4096) or 1
        elif name == "BatchGetItem":
            units = sum(
                math.ceil(len(json.dumps(item)) / 4096)
                for items in parsed.get("Responses", {}).values()
                for item in items
            )
        else:
            units = math.ceil(len(json.dumps(parsed.get("Items", []))) / 4096) // 2 or 1
        with self.lock:
            self.read_units += units

    @property
    def write_requests(self) -> int:
        return sum(n for name, n in self.requests.items() if name in WRITES)

    @property
    def items_written(self) -> int:
        return sum(self.items.values())

    @property
    def read_requests(self) -> int:
        return sum(n for name, n in self.requests.items() if name in READS)


@contextmanager
def tallied(client: Any) -> Iterator[Tally]:
    tally = Tally()
    events = client.meta.events
    events.register("provide-client-params.dynamodb", tally.asked, unique_id="writes-asked")
    events.register("after-call.dynamodb", tally.answered, unique_id="writes-answered")
    try:
        yield tally
    finally:
        events.unregister("provide-client-params.dynamodb", unique_id="writes-asked")
        events.unregister("after-call.dynamodb", unique_id="writes-answered")


@dataclass
class Measured:
    recipients: int
    batches: int
    tally: Tally
    message_bytes: int  # the delivery batches' messages, in all
    resolve_invocations: int
    seconds: float

    def per_100(self, count: int) -> float:
        return count / self.recipients * 100

    def as_json(self) -> dict[str, Any]:
        return {
            "recipients": self.recipients,
            "batches": self.batches,
            "write_requests": self.tally.write_requests,
            "items_written": self.tally.items_written,
            "requests_by_operation": dict(sorted(self.tally.requests.items())),
            "items_by_operation": dict(sorted(self.tally.items.items())),
            "read_requests": self.tally.read_requests,
            "read_units_estimated": self.tally.read_units,
            "resolve_invocations": self.resolve_invocations,
            "delivery_invocations": self.batches,
            "delivery_message_bytes": self.message_bytes,
            "seconds": round(self.seconds, 2),
        }


class AcceptingSender:
    """Accepts every send at once: the writes, not the sends, are measured."""

    def __init__(self) -> None:
        self.sent = 0
        self._lock = threading.Lock()

    def send(self, notification: Any, service: Any, recipient: Any, *_: Any, **__: Any) -> Any:
        from notify_bindings.domain.notifications import Delivery, DeliveryStatus

        with self._lock:
            self.sent += 1
        return Delivery(recipient, DeliveryStatus.SENT, f"id-{recipient.address[:8]}")


class Credentials:
    def open(self, account_sid: str, credential_sid: str) -> Any:
        from notify_bindings.domain.notifications import OpenedCredential

        return OpenedCredential(("credential", credential_sid))


def population(account_sid: str, service_sid: str, size: int) -> Population:
    from notify_bindings import dependencies
    from notify_bindings.domain.bindings import Binding, BindingType
    from notify_bindings.platform.sids import new_binding_sid

    start = dependencies.now() - timedelta(days=1)
    kinds = [BindingType(kind) for kind, share in KINDS for _ in range(share)]
    bindings = []
    for n in range(size):
        kind = kinds[n % len(kinds)]
        address = f"+1555{n:07d}" if kind is BindingType.SMS else f"{n:08x}".ljust(64, "0")
        if kind is BindingType.FCM:
            address = f"{n:08x}:" + "f" * 150  # FCM tokens: some 160 characters
        created = start + timedelta(milliseconds=n)
        bindings.append(
            Binding(
                sid=new_binding_sid(created),
                account_sid=account_sid,
                service_sid=service_sid,
                identity=f"user-{n:06d}",
                binding_type=kind,
                address=address,
                tags=(TAG,),
                credential_sid=None if kind is BindingType.SMS else "CR" + "a" * 32,
                notification_protocol_version="3" if kind.is_push else None,
                date_created=created,
            )
        )
    return Population.of(bindings)


def measure(size: int, started: Any) -> Measured:
    from notify_bindings import dependencies
    from notify_bindings.domain.notifications import Notification, ResolutionTask
    from notify_bindings.domain.services import Service
    from notify_bindings.platform.sids import time_ordered_sid

    functions, tables, queues = started.functions, started.tables, started.queues
    now = dependencies.now()
    account_sid = "AC" + "b" * 32
    service = Service(time_ordered_sid("IS", now), account_sid, now, now)
    dependencies.service_store().create(service)
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for table, item in population(account_sid, service.sid, size).items(0, size):
        if table in tables:  # not the listing benchmark's naive design
            by_table[tables[table]].append(item)
    for table, items in by_table.items():
        moto_at_scale.store(table, items)

    sqs = sqs_client(started.endpoint)
    began = time.perf_counter()
    with tallied(dependencies.dynamodb()) as tally, quietly():
        notification = Notification(
            sid=time_ordered_sid("NT", now),
            account_sid=account_sid,
            service_sid=service.sid,
            date_created=now,
            tags=(TAG,),
            body="Hello",
        )
        dependencies.notification_store().create(notification)
        task = ResolutionTask(account_sid, service.sid, notification.sid)
        sqs.send_message(QueueUrl=queues["ResolveQueue"].url, MessageBody=task.to_message())
        resolves = 0
        with moto_at_scale.frozen():  # resolution writes only the notification's item
            for message in drain(sqs, queues["ResolveQueue"].url):
                answer = functions.invoke(
                    "ResolveNotificationFunction", sqs_event([message], queues["ResolveQueue"].arn)
                )
                assert answer == {"batchItemFailures": []}, answer
                resolves += 1
        batches = message_bytes = 0
        for message in drain(sqs, queues["DeliveryQueue"].url):
            message_bytes += len(message["Body"].encode())
            answer = functions.invoke(
                "DeliverNotificationsFunction", sqs_event([message], queues["DeliveryQueue"].arn)
            )
            assert answer == {"batchItemFailures": []}, answer
            batches += 1
    seconds = time.perf_counter() - began
    found = dependencies.notification_store().get(account_sid, service.sid, notification.sid)
    assert found is not None
    counts = found[1]
    assert (counts.total, counts.sent, counts.pending) == (size, size, 0), counts
    return Measured(size, batches, tally, message_bytes, resolves, seconds)


def drain(sqs: Any, url: str) -> Iterator[dict[str, Any]]:
    """The queue's messages, each deleted as it is given, until it is empty (the messages the
    consumers add meanwhile included)."""
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=600
        ).get("Messages", [])
        if not got:
            return
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            yield message


@dataclass(frozen=True)
class Started:
    functions: Any
    tables: dict[str, str]
    queues: dict[str, Any]
    endpoint: str | None


def run(sizes: list[int]) -> list[Measured]:
    from moto import mock_aws

    from local_api import moto_patches

    keep_aws_local()
    template = SamTemplate.load()
    put_layers_on_path(template)
    moto_patches.install()
    warnings.filterwarnings("ignore", "No application metrics to publish")
    measured: list[Measured] = []
    with mock_aws(), moto_at_scale.faster():
        local = start_functions(template, None, {"POWERTOOLS_LOG_LEVEL": "WARNING"})
        from notify_bindings import dependencies

        sender = AcceptingSender()
        dependencies.sender = lambda: sender  # type: ignore[assignment]
        dependencies.credential_source = lambda: Credentials()  # type: ignore[assignment,return-value]
        started = Started(local.functions, local.tables, local.queues, None)
        for size in sizes:
            entry = measure(size, started)
            measured.append(entry)
            print_row(entry)
    return measured


def print_row(entry: Measured) -> None:
    tally = entry.tally
    print(
        f"{entry.recipients:>8,} recipients: {entry.batches:>4} batches, "
        f"{tally.write_requests:>5} write requests, {tally.items_written:>5} items written "
        f"({entry.per_100(tally.items_written):.3f} per 100 recipients; requests "
        f"{entry.per_100(tally.write_requests):.3f}); {dict(sorted(tally.items.items()))}; "
        f"{entry.seconds:.1f} s",
        flush=True,
    )


def report(measured: list[Measured], path: Path) -> dict[str, Any]:
    rows = []
    for entry in measured:
        per_100 = entry.per_100(entry.tally.items_written)
        rows.append(
            {
                "target": f"notification to {entry.recipients:,} recipients: DynamoDB items "
                "written for progress and counts, per 100 recipients",
                "figure": f"{per_100:.3f} ({entry.tally.items_written:,} items in "
                f"{entry.tally.write_requests:,} write requests, {entry.batches:,} batches)",
                "limit": f"<= {LIMIT_PER_100:g} write per 100 recipients",
                "met": per_100 <= LIMIT_PER_100,
            }
        )
    notes = [
        "Counted from the notification's create to its last batch delivered, through the "
        "template's resolving and delivering functions against moto; providers faked "
        "(accepting every send), no dead addresses, no callback URL (a callback adds one "
        "UpdateItem per batch).",
        "Per notification: 1 PutItem (the notification); per page of 1,000 resolved, 1 "
        "UpdateItem (Total, NextSequence); per batch of up to 1,000 recipients, 1 UpdateItem "
        "claiming it and 1 TransactWriteItems of 2 items (its record, the counts).",
        "Items written counts each item of a transaction; write requests count a transaction "
        "once. DynamoDB bills a transaction's items twice (bench/fleet_estimate.py).",
    ]
    result = {
        "title": TITLE,
        "rows": rows,
        "notes": notes,
        "sizes": [entry.as_json() for entry in measured],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in SIZES),
        help="recipients of each notification, comma-separated (default %(default)s)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    measured = run(sizes)
    result = report(measured, RESULTS)
    missed = [row for row in result["rows"] if not row["met"]]
    print("every target met" if not missed else f"{len(missed)} target(s) missed")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
