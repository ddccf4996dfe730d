"""Resolution cost: DynamoDB items read per recipient when a notification is resolved in a
Service of 100,000 bindings.

Targets (performance issue II, 1 and "Lists by several tags"): a notification by tag reads at
most 1.05 items per recipient, with no Scan; by identity at most 2; a resolution by several
tags reads the many-tags partition (bindings with more tags than are listed under their
combinations) at most once in all.

Population. bench/listing_scale.py's seeded generator and items (identities of 1-20
bindings, 2 common, 4 medium and 400 rare tags, 0.5% of identities with 5-8 tags), written
straight into moto's tables (`bench/moto_at_scale.py`).

Measuring. Each notification is created through the CreateNotificationFunction handler; its
ResolutionTask (and any continuation task) is handed to the ResolveNotificationFunction
handler as Lambda's SQS event source would; the delivery queue is then drained and its
batches checked against the generator's model: every matching binding exactly once, nothing
else. Nothing is delivered. A botocore hook on the functions' DynamoDB client adds up the
items each response says were read during the resolution: a Query's ScannedCount (what
DynamoDB evaluated, before any filter: what it charges for), the items a BatchGetItem or
GetItem returned. Queries of the many-tags partition are counted apart (items and queries),
and a Scan fails the benchmark.

Run: .venv/bin/python -m bench.resolution_cost [--size 100000] [--only LABEL]
Writes bench/results/resolution_cost.json. About 2 minutes at 100,000 bindings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import moto_at_scale
from bench.listing_scale import MANY_TAGS_SHARE, SEED, Population, _moto, quietly
from bench.local_functions import start_functions
from local_api.events import LambdaContext, http_api_event, sqs_event, with_authorizer_context
from local_api.runtime import keep_aws_local, put_layers_on_path, sqs_client
from local_api.template import SamTemplate

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "resolution_cost.json"
TITLE = "Resolution cost: DynamoDB items read per recipient"

SIZE = 100_000
BY_TAG = 1.05  # items read per recipient, the targets
BY_IDENTITY = 2.0
CREATE = "CreateNotificationFunction"
RESOLVE = "ResolveNotificationFunction"
IDENTITIES = 20  # the most a notification names
TIMEOUT = 900  # seconds: Lambda's longest timeout


@dataclass(frozen=True)
class Case:
    label: str
    form: tuple[tuple[str, str], ...]  # as Twilio's clients send it, Body aside

    @property
    def tags(self) -> list[str]:
        return [value for name, value in self.form if name == "Tag"]

    @property
    def identities(self) -> list[str]:
        return [value for name, value in self.form if name == "Identity"]

    @property
    def limit(self) -> float:
        return BY_IDENTITY if self.identities else BY_TAG


def cases(population: Population) -> list[Case]:
    def tags(*names: str) -> tuple[tuple[str, str], ...]:
        return tuple(("Tag", name) for name in names)

    who = tuple(("Identity", identity) for identity in population.identities[:IDENTITIES])
    return [
        Case("all (a tag every binding holds)", tags("all")),
        Case("common tag (newsletter, 45%)", tags("newsletter")),
        Case(f"{IDENTITIES} identities", who),
        Case("2 common tags (newsletter+promotions)", tags("newsletter", "promotions")),
        Case("2 medium tags (sports+weather)", tags("sports", "weather")),
        Case("3 tags (newsletter+promotions+sports)", tags("newsletter", "promotions", "sports")),
    ]


# -- counting ----------------------------------------------------------------------------


@dataclass
class Reads:
    """Items DynamoDB read for the calls made meanwhile, by operation; and the many-tags
    partition's share of the Queries."""

    many_tags_partition: str
    by_operation: Counter[str] = field(default_factory=Counter)
    many_tags_items: int = 0
    many_tags_queries: int = 0
    round_trips: int = 0
    _asking_many_tags: bool = False

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    def asked(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """`before-parameter-build`: which partition a Query names."""
        values = params.get("ExpressionAttributeValues", {})
        partition = values.get(":pk", {}).get("S")
        self._asking_many_tags = model.name == "Query" and partition == self.many_tags_partition

    def answered(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        self.round_trips += 1
        if name in ("Query", "Scan"):
            scanned = int(parsed.get("ScannedCount", 0))
            self.by_operation[name] += scanned
            if self._asking_many_tags:
                self.many_tags_items += scanned
                self.many_tags_queries += 1
        elif name == "BatchGetItem":
            found = parsed.get("Responses", {}).values()
            self.by_operation[name] += sum(len(items) for items in found)
        elif name == "GetItem":
            self.by_operation[name] += 1 if parsed.get("Item") else 0
        self._asking_many_tags = False


@contextmanager
def reading(client: Any, many_tags_partition: str) -> Iterator[Reads]:
    reads = Reads(many_tags_partition)
    events = client.meta.events
    hooks = (
        ("before-parameter-build.dynamodb", reads.asked),
        ("after-call.dynamodb", reads.answered),
    )
    for event, hook in hooks:
        events.register(event, hook, unique_id=f"resolution-cost-{event}")
    try:
        yield reads
    finally:
        for event, _ in hooks:
            events.unregister(event, unique_id=f"resolution-cost-{event}")


# -- one notification --------------------------------------------------------------------


@dataclass
class Resolved:
    case: Case
    recipients: int
    items_read: int
    by_operation: dict[str, int]
    many_tags_items: int
    many_tags_queries: int
    invocations: int
    batches: int
    round_trips: int
    seconds: float

    @property
    def per_recipient(self) -> float:
        return self.items_read / max(self.recipients, 1)


@dataclass
class Resolver:
    functions: Any  # local_api.runtime.LocalFunctions
    queues: dict[str, Any]  # logical id -> LocalQueue
    functions_client: Any  # dependencies.dynamodb(): the handlers' own client
    account_sid: str
    service_sid: str
    many_tags_partition: str
    timeout: int  # seconds an invocation of the resolving handler may take

    def notify(self, case: Case) -> str:
        (route,) = self.functions.functions[CREATE].routes
        path = f"/v1/Services/{self.service_sid}/Notifications"
        body = urlencode([*case.form, ("Body", "Hello")]).encode()
        event = http_api_event(
            route,
            path,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=body,
        )
        event = with_authorizer_context(event, {"accountSid": self.account_sid})
        response = self.functions.invoke(CREATE, event)
        if response["statusCode"] != 201:
            raise RuntimeError(f"{case.label}: {response['statusCode']} {response['body']}")
        sid: str = json.loads(response["body"])["sid"]
        return sid

    def invoke_resolve(self, event: dict[str, Any]) -> Any:
        """The resolving handler, as LocalFunctions.invoke calls it, but given `timeout`
        seconds: against moto a page of 1,000 takes a second or more, where a continuation
        task is queued with 5 s left, and a call that could outlast the deadline is refused
        (platform/deadline.py), so the template's 60 s would fail a task that DynamoDB's speed
        lets through."""
        function = self.functions.functions[RESOLVE]
        handler = function.load_handler()
        context = LambdaContext(
            function_name=RESOLVE,
            memory_limit_in_mb=function.memory,
            timeout_seconds=self.timeout,
        )
        return handler(event, context)

    def resolve(self, case: Case, expected: set[str]) -> Resolved:
        """Create the notification, resolve it to the end (continuations included), and check
        the delivery queue's batches against `expected` (binding SIDs)."""
        sid = self.notify(case)
        queue = self.queues["ResolveQueue"]
        invocations = 0
        started = time.perf_counter()
        with reading(self.functions_client, self.many_tags_partition) as reads:
            while tasks := receive_all(queue.url):
                for task in tasks:
                    if sid not in task["Body"]:
                        raise RuntimeError(f"a task of another notification: {task['Body']}")
                    answer = self.invoke_resolve(sqs_event([task], queue.arn))
                    invocations += 1
                    if answer != {"batchItemFailures": []}:
                        raise RuntimeError(f"{case.label}: the resolution failed: {answer}")
        seconds = time.perf_counter() - started
        if reads.by_operation["Scan"]:
            raise AssertionError(f"{case.label}: a Scan was issued")
        batches = drained_batches(self.queues["DeliveryQueue"].url, sid)
        queued = [r.binding_sid for batch in batches for r in batch.recipients]
        if len(queued) != len(set(queued)) or set(queued) != expected:
            raise AssertionError(
                f"{case.label}: {len(queued)} recipients queued ({len(set(queued))} distinct), "
                f"{len(expected)} bindings match"
            )
        return Resolved(
            case,
            len(queued),
            reads.total,
            dict(reads.by_operation),
            reads.many_tags_items,
            reads.many_tags_queries,
            invocations,
            len(batches),
            reads.round_trips,
            seconds,
        )


def receive_all(url: str) -> list[dict[str, Any]]:
    """Every message of the queue, taken off it."""
    client = sqs_client(None)
    taken: list[dict[str, Any]] = []
    while got := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        entries = [
            {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
            for n, message in enumerate(got)
        ]
        client.delete_message_batch(QueueUrl=url, Entries=entries)
        taken += got
    return taken


def drained_batches(url: str, notification_sid: str) -> list[Any]:
    from notify_bindings.domain.notifications import DeliveryBatch

    batches = [DeliveryBatch.from_message(message["Body"]) for message in receive_all(url)]
    if any(batch.notification_sid != notification_sid for batch in batches):
        raise AssertionError("the delivery queue held another notification's batches")
    return batches


# -- the run -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=SIZE, help="bindings (default %(default)s)")
    parser.add_argument(
        "--many-tags-share",
        type=float,
        default=MANY_TAGS_SHARE,
        help="the share of identities with 5-8 tags (default %(default)s)",
    )
    parser.add_argument(
        "--only", action="append", default=[], help="the cases whose label contains this"
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=TIMEOUT,
        help="seconds each invocation of the resolving handler has (default %(default)s, "
        "Lambda's longest: moto is slower than DynamoDB)",
    )
    args = parser.parse_args()
    began = time.perf_counter()
    keep_aws_local()
    template = SamTemplate.load()
    put_layers_on_path(template)
    with _moto("in-process"), moto_at_scale.faster():
        resolved, facts = run(template, args.size, args.many_tags_share, args.only, args.timeout)
    facts["bench_seconds"] = time.perf_counter() - began
    report(resolved, facts)


def run(
    template: SamTemplate, size: int, many_tags_share: float, only: list[str], timeout: int
) -> tuple[list[Resolved], dict[str, Any]]:
    local = start_functions(template, None, {"POWERTOOLS_LOG_LEVEL": "WARNING"})
    warnings.filterwarnings("ignore", "No application metrics to publish")

    from notify_bindings import dependencies
    from notify_bindings.dal.accounts import AccountStore
    from notify_bindings.dal.bindings.items import has_many_tags, many_tags_partition
    from notify_bindings.domain.bindings import BindingFilters
    from notify_bindings.domain.services import Service
    from notify_bindings.platform.sids import time_ordered_sid

    tables = local.tables
    accounts = AccountStore(dependencies.dynamodb(), tables["AccountsTable"])
    account, _ = accounts.create_account("bench")
    now = dependencies.now()
    service = Service(time_ordered_sid("IS", now), account.sid, now, now)
    dependencies.service_store().create(service)

    started = time.perf_counter()
    population = Population.generate(account.sid, service.sid, size, SEED, many_tags_share)
    by_table: dict[str, list[dict[str, Any]]] = {}
    for table, item in population.items(0, len(population.bindings)):
        if table in tables:  # not the listing benchmark's naive table
            by_table.setdefault(tables[table], []).append(item)
    for table_name, items in by_table.items():
        moto_at_scale.store(table_name, items)
    many = sum(has_many_tags(binding) for binding in population.bindings)
    facts: dict[str, Any] = {
        "bindings": len(population.bindings),
        "identities": len(population.identities),
        "many_tag_bindings": many,
        "many_tags_share": many_tags_share,
        "populate_seconds": time.perf_counter() - started,
        "timeout_seconds": timeout,
    }
    print(f"{len(population.bindings):,} bindings of {len(population.identities):,} identities "
          f"({many:,} in the many-tags partition) written in "
          f"{facts['populate_seconds']:.1f} s")  # fmt: skip
    resolver = Resolver(
        local.functions,
        local.queues,
        dependencies.dynamodb(),
        account.sid,
        service.sid,
        many_tags_partition(service.sid),
        timeout,
    )
    chosen = [c for c in cases(population) if not only or any(o in c.label for o in only)]
    print(f"  {'notification':<40} {'recipients':>10} {'read':>8} {'/rcpt':>6} "
          f"{'many-tags read':>14} {'queries':>7} {'calls':>5} {'s':>6}")  # fmt: skip
    resolved = []
    with moto_at_scale.frozen():
        for case in chosen:
            filters = BindingFilters(identities=tuple(case.identities), tags=tuple(case.tags))
            expected = {b.sid for b in population.bindings if b.matches(filters)}
            with quietly():
                entry = resolver.resolve(case, expected)
            resolved.append(entry)
            print(f"  {case.label[:40]:<40} {entry.recipients:>10,} {entry.items_read:>8,} "
                  f"{entry.per_recipient:>6.3f} {entry.many_tags_items:>14,} "
                  f"{entry.many_tags_queries:>7} {entry.invocations:>5} {entry.seconds:>6.1f}",
                  file=sys.__stdout__, flush=True)  # fmt: skip
    return resolved, facts


# -- the report --------------------------------------------------------------------------


def report(resolved: list[Resolved], facts: dict[str, Any]) -> None:
    many = facts["many_tag_bindings"]
    rows = [row for entry in resolved for row in _rows(entry, many)]
    notes = [
        f"One Service of {facts['bindings']:,} bindings ({facts['identities']:,} identities), "
        f"bench/listing_scale.py's seeded population (seed {SEED}): "
        f"{facts['many_tags_share']:.1%} of identities with 5-8 tags, {many:,} bindings in the "
        "many-tags partition.",
        "Items read: each Query's ScannedCount plus the items each BatchGetItem and GetItem "
        "returned, over every DynamoDB call of the resolution (the notification, the Service, "
        "the stats item, the index pages; continuation tasks included), hooked on the "
        "ResolveNotificationFunction handler's own client. No Scan was issued (a Scan fails "
        "the benchmark). The delivery queue's batches held every matching binding exactly "
        "once (checked against the generator's model); nothing was delivered.",
        "By several tags, a resolution reads the combination's partition (only bindings that "
        "match) and the many-tags partition, which it filters: each of its items is read at "
        "most once in a resolution (a page takes every binding within the span of SIDs it "
        "read), so the floor is (recipients + the many-tags partition) / recipients. Where the "
        f"combination is rare against the {many:,} many-tags bindings, that floor is above "
        f"{BY_TAG}: the index layout, not the reads, sets it (only the bindings of the "
        "many-tags partition that carry one of the asked tags, a partition per tag, would "
        "lower it).",
        f"Populated in {facts['populate_seconds']:.1f} s; whole bench "
        f"{facts['bench_seconds']:.1f} s (moto, in process). Each invocation of the resolving "
        f"handler had {facts['timeout_seconds']} s: against moto a page of 1,000 takes a "
        "second or more, and a call that could outlast the deadline is refused, so the "
        "template's 60 s fail there where DynamoDB's speed gets through (a continuation task "
        "and its reads count like the rest).",
    ]
    results = {
        "title": TITLE,
        "rows": rows,
        "notes": notes,
        "facts": facts,
        "cases": [
            {**{k: v for k, v in vars(entry).items() if k != "case"}, "label": entry.case.label}
            for entry in resolved
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{TITLE}, at {facts['bindings']:,} bindings")
    for row in rows:
        verdict = "met" if row["met"] else "NOT MET"
        print(f"  {verdict:<8} {row['target']}: {row['figure']}")
    print(f"bench {facts['bench_seconds']:.1f} s; wrote {RESULTS.name}")


def _rows(entry: Resolved, many: int) -> list[dict[str, Any]]:
    case = entry.case
    several = len([tag for tag in case.tags if tag != "all"]) > 1
    reads = ", ".join(f"{name} {count:,}" for name, count in sorted(entry.by_operation.items()))
    figure = (
        f"{entry.per_recipient:.3f} items read per recipient ({entry.items_read:,} items for "
        f"{entry.recipients:,} recipients: {reads}; {entry.round_trips} round trips, "
        f"{entry.invocations} invocation(s), {entry.batches} batches)"
    )
    met = entry.per_recipient <= case.limit
    if several and entry.many_tags_items:
        recipients = max(entry.recipients, 1)
        floor = (entry.recipients + many) / recipients
        without = (entry.items_read - entry.many_tags_items) / recipients
        figure += (
            f"; {entry.many_tags_items:,} of them from the many-tags partition ({many:,} "
            f"held): without it {without:.3f}"
        )
        if not met:
            figure += (
                f"; the floor with the partition read once is {floor:.3f}: a layout limit "
                "(see the notes)"
            )
    unit = "by identity" if case.identities else "by tag"
    rows = [
        {
            "target": f"resolution at {entry.recipients:,} recipients, {unit}: {case.label}",
            "figure": figure,
            "limit": f"<= {case.limit:g} items read per recipient, no Scan",
            "met": met,
        }
    ]
    if several:
        rows.append(
            {
                "target": f"resolution by several tags, many-tags partition read: {case.label}",
                "figure": f"{entry.many_tags_items:,} items read of the {many:,} it holds "
                f"({entry.many_tags_items / max(many, 1):.3f} times), in "
                f"{entry.many_tags_queries} queries over the resolution's pages",
                "limit": "at most once: items read <= items held",
                "met": entry.many_tags_items <= many,
            }
        )
    return rows


if __name__ == "__main__":
    main()
