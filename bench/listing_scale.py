"""Listing at scale: DynamoDB items read per list page as one Service grows from 1,000 to
100,000 bindings, for our design and for a naive filter-on-the-partition design.

Target (performance issue, 4): with 100,000 bindings in one Service, a list by identity, by one
or more tags, by binding type or by date reads at most 2 items per binding returned: no
filter pass over the whole Service.

Population. A seeded generator makes bindings the way a Service collects them: identities with
1-5 bindings (one in twenty with 6-20), apn and fcm mostly, some sms, and per identity 0-4 tags
from a skewed vocabulary (two common tags, four medium ones, 400 rare ones of Zipf frequencies;
one identity in 200 with 5-8 tags), created over 60 days (time-ordered SIDs). Its items are
exactly those `BindingStore.put`'s transactions write for these bindings, built by the store's
own item helpers (address item, SID item, tag and combination items, the many-tags count,
identity records with their counts and copies; tests/bench/test_listing_scale_population.py
compares them with what `put` writes). The Service grows in steps (1k, 2k, 5k, ... 100k;
identities arrive whole, in random order) and is measured at each size. The first size is
written with BatchWriteItem requests, 25 items each; the rest straight into moto's tables
(`bench/moto_at_scale.py`: BatchWriteItem would take over 10 minutes for 100k). At the second
size `tests/invariants.py` audits every item of the Service against the store's layout; at
every size each page listed, by either design, is checked against the generator's own model.

Measuring. Every list goes through the template's ListBindingsFunction handler, invoked in
this process as Lambda would invoke it behind the authorizer, following `next_page_url` for
the cases paged further. A botocore hook on the functions' DynamoDB client adds up the items
each response says were read: a Query's ScannedCount (what DynamoDB evaluated, before any
filter: what it charges for), the items a BatchGetItem returned. Round trips are counted at
`before-send` (`local_api.round_trips`).

Naive design. One table keyed (ServiceSid, Sid) holding each binding once, with its Tags
list. A list reads the Service item as ours does, then Queries the Service's partition with a
FilterExpression for each filter (identity IN, contains(Tags), BindingType, DateCreated),
each request reading what DynamoDB reads without a Limit (up to 1 MB), until the page and one
more binding are found. Same data, same pages, same checks.

moto. moto 5.2.5 sorts the whole table for every Query (about a second each at 100k), and
serialises answers slowly; `bench/moto_at_scale.py` narrows what moto's own query code walks
to what a request can reach, without changing its answers or counts.

Run: .venv/bin/python -m bench.listing_scale [--max-size 100000] [--many-tags-share 0.005]
Writes bench/results/listing_scale.json and the chart bench/listing_scale.png (matplotlib:
`.venv/bin/pip install --require-hashes -r requirements-bench.txt`). About 3 minutes.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import random
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from bench import moto_at_scale
from bench.local_functions import start_functions
from local_api.events import http_api_event, with_authorizer_context
from local_api.round_trips import RoundTrips, counting
from local_api.runtime import (
    LocalFunctions,
    dynamodb_client,
    embedded_dynamodb,
    keep_aws_local,
    put_layers_on_path,
)
from local_api.template import SamTemplate

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "listing_scale.json"
CHART = HERE / "listing_scale.png"
TITLE = "Listing at scale: DynamoDB items read per binding returned"

SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
PAGE_SIZE = 50  # Twilio's default
READS_PER_BINDING = 2  # the target
SEED = 5
DAYS = 60
FOLLOWED_PAGES = 3  # for the paged cases: the first page and the next two
NAIVE_TABLE = "NaiveBindingsTable"
LIST = "ListBindingsFunction"
MARKERS = ("o", "s", "^", "D", "v", "P")  # one per kind of list, so that overlaps show

# Tags, each given to an identity (and so to all its bindings) with its probability.
COMMON_TAGS = {"newsletter": 0.45, "promotions": 0.30}
MEDIUM_TAGS = {"sports": 0.06, "weather": 0.05, "finance": 0.04, "beta-testers": 0.03}
RARE_TAGS = [f"interest-{rank:03d}" for rank in range(400)]  # Zipf: the n-th is n times rarer
RARE_TAGS_PER_IDENTITY = (0, 0, 0, 1, 1, 2)  # drawn from uniformly
RARE_SHARE = 0.001  # the rare tag listed: the one closest to this share of the bindings
MAX_TAGS = 4
# Twilio allows 20 tags a binding; a few identities have more than the usual handful.
MANY_TAGS_SHARE = 0.005  # of identities, with 5-8 tags
MANY_TAGS = (5, 8)
BINDING_TYPES = {"apn": 0.45, "fcm": 0.45, "sms": 0.10}
BINDINGS_PER_IDENTITY = {1: 40, 2: 25, 3: 15, 4: 10, 5: 5} | dict.fromkeys(range(6, 21), 5 / 15)


# -- population --------------------------------------------------------------------------


@dataclass
class Population:
    """The Service's bindings in the order they are written, grouped by identity."""

    account_sid: str
    service_sid: str
    first_day: date
    bindings: list[Any]  # notify_bindings.domain.bindings.Binding
    identities: list[str]  # in the order they are written
    by_identity: dict[str, list[int]]  # identity -> positions in `bindings`
    largest_record: int = 0  # the largest identity record written, as JSON text

    @classmethod
    def generate(
        cls,
        account_sid: str,
        service_sid: str,
        size: int,
        seed: int,
        many_tags_share: float = MANY_TAGS_SHARE,
    ) -> Population:
        from notify_bindings.domain.bindings import Binding, BindingType
        from notify_bindings.platform.sids import new_binding_sid

        rng = random.Random(seed)
        first_day = datetime.now(UTC).date() - timedelta(days=DAYS)
        start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
        credentials = {kind: "CR" + rng.randbytes(16).hex() for kind in ("apn", "fcm")}
        rare_weights = [1 / (rank + 1) for rank in range(len(RARE_TAGS))]
        counts, kinds = list(BINDINGS_PER_IDENTITY), list(BINDINGS_PER_IDENTITY.values())
        type_names, type_weights = list(BINDING_TYPES), list(BINDING_TYPES.values())
        bindings: list[Any] = []
        identities: list[str] = []
        by_identity: dict[str, list[int]] = {}
        while len(bindings) < size:
            identity = f"user-{len(identities):06d}"
            # A binding's tags are distinct (the API drops repeated ones): a dict keeps them so.
            chosen = {t: None for t, p in (COMMON_TAGS | MEDIUM_TAGS).items() if rng.random() < p}
            rare = rng.choice(RARE_TAGS_PER_IDENTITY)
            chosen.update(dict.fromkeys(rng.choices(RARE_TAGS, rare_weights, k=rare)))
            tags = list(chosen)
            if rng.random() < many_tags_share:
                wanted = rng.randint(*MANY_TAGS)
                while len(chosen) < wanted:
                    chosen.update(dict.fromkeys(rng.choices(RARE_TAGS, rare_weights, k=1)))
                tags = list(chosen)
            elif len(tags) > MAX_TAGS:
                tags = rng.sample(tags, MAX_TAGS)
            identities.append(identity)
            by_identity[identity] = []
            for _ in range(rng.choices(counts, kinds)[0]):
                kind = BindingType(rng.choices(type_names, type_weights)[0])
                created = start + timedelta(milliseconds=rng.randrange(DAYS * 86_400_000))
                by_identity[identity].append(len(bindings))
                bindings.append(
                    Binding(
                        sid=new_binding_sid(created),
                        account_sid=account_sid,
                        service_sid=service_sid,
                        identity=identity,
                        binding_type=kind,
                        address=_address(rng, kind.value, len(bindings)),
                        tags=tuple(tags),
                        credential_sid=credentials.get(kind.value),
                        notification_protocol_version="3" if kind.is_push else None,
                        date_created=created,
                    )
                )
        return cls(account_sid, service_sid, first_day, bindings, identities, by_identity)

    @classmethod
    def of(cls, bindings: Sequence[Any]) -> Population:
        """These bindings of one Service, to be written in this order."""
        by_identity: dict[str, list[int]] = {}
        for position, binding in enumerate(bindings):
            by_identity.setdefault(binding.identity, []).append(position)
        first_day = min(binding.date_created for binding in bindings).date()
        first = bindings[0]
        return cls(
            first.account_sid,
            first.service_sid,
            first_day,
            list(bindings),
            list(by_identity),
            by_identity,
        )

    def items(self, written: int, size: int) -> list[tuple[str, dict[str, Any]]]:
        """(logical table, item) for the bindings [written, size): what the store's
        transactions would have written, identity records rewritten with their new copies;
        and the naive design's item for each binding."""
        from notify_bindings.dal.bindings.items import (
            address_item,
            binding_attributes,
            has_many_tags,
            identity_key,
            index_keys,
            stats_key,
        )

        items: list[tuple[str, dict[str, Any]]] = []
        touched: dict[str, None] = {}
        for binding in self.bindings[written:size]:
            attributes = binding_attributes(binding)
            items.append(("BindingsTable", address_item(binding)))
            items += [("BindingIndexTable", {**key, **attributes}) for key in index_keys(binding)]
            items.append((NAIVE_TABLE, attributes))
            touched[binding.identity] = None
        for identity in touched:
            held = [self.bindings[i] for i in self.by_identity[identity] if i < size]
            record = {
                **identity_key(self.service_sid, identity),
                "BindingCount": {"N": str(len(held))},
            }
            record.update({b.sid: {"M": binding_attributes(b)} for b in held})
            items.append(("BindingIndexTable", record))
            if len(held) >= 10:  # the largest items: how far below DynamoDB's 400 KB?
                self.largest_record = max(self.largest_record, len(json.dumps(record)))
        many = sum(has_many_tags(binding) for binding in self.bindings[:size])
        if many and any(has_many_tags(binding) for binding in self.bindings[written:size]):
            count = {"ManyTagBindings": {"N": str(many)}}
            items.append(("BindingIndexTable", {**stats_key(self.service_sid), **count}))
        return items


def _address(rng: random.Random, kind: str, number: int) -> str:
    if kind == "sms":
        return f"+1555{number:07d}"
    if kind == "apn":
        return rng.randbytes(32).hex()  # an APNs device token
    return base64.urlsafe_b64encode(rng.randbytes(114)).decode()  # FCM tokens: ~150 chars


def write(client: Any, tables: dict[str, str], items: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """BatchWriteItem, 25 puts a request; returns the requests sent."""
    requests = 0
    for start in range(0, len(items), 25):
        pending: dict[str, list[Any]] = {}
        for table, item in items[start : start + 25]:
            pending.setdefault(tables[table], []).append({"PutRequest": {"Item": item}})
        while pending:
            response = client.batch_write_item(RequestItems=pending)
            requests += 1
            pending = response.get("UnprocessedItems") or {}
    return requests


# -- counting items read -----------------------------------------------------------------


@dataclass
class Reads:
    """Items DynamoDB read for the calls made meanwhile, by operation."""

    by_operation: Counter[str] = field(default_factory=Counter)
    keys_asked: int = 0  # keys that BatchGetItem requests named (found or not)

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    def asked(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """`before-parameter-build`: the call's parameters as the caller gave them."""
        if model.name == "BatchGetItem":
            requests = params.get("RequestItems", {}).values()
            self.keys_asked += sum(len(request.get("Keys", [])) for request in requests)

    def answered(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name in ("Query", "Scan"):
            self.by_operation[name] += int(parsed.get("ScannedCount", 0))
        elif name == "BatchGetItem":
            found = parsed.get("Responses", {}).values()
            self.by_operation[name] += sum(len(items) for items in found)
        elif name == "GetItem":
            self.by_operation[name] += 1 if parsed.get("Item") else 0
        elif name == "TransactGetItems":
            self.by_operation[name] += sum(1 for r in parsed.get("Responses", []) if r.get("Item"))


@contextmanager
def reading(client: Any) -> Iterator[tuple[Reads, RoundTrips]]:
    reads = Reads()
    events = client.meta.events
    hooks = (
        ("before-parameter-build.dynamodb", reads.asked),
        ("after-call.dynamodb", reads.answered),
    )
    for event, hook in hooks:
        events.register(event, hook, unique_id=f"listing-scale-{event}")
    try:
        with counting(client) as trips:
            yield reads, trips
    finally:
        for event, _ in hooks:
            events.unregister(event, unique_id=f"listing-scale-{event}")


# -- the lists ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    kind: str  # what the chart groups by
    label: str
    query: tuple[tuple[str, str], ...]  # as Twilio's clients send it
    pages: int = 1

    def filters(self) -> Any:
        from notify_bindings.api.requests.binding_lists import ListBindingsQuery

        return ListBindingsQuery.model_validate(_form(self.query)).filters()


def _form(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    form: dict[str, Any] = defaultdict(list)
    for name, value in pairs:
        form[name].append(value)
    return {
        name: values if name in ("Identity", "Tag") else values[0] for name, values in form.items()
    }


@dataclass
class PageRead:
    returned: int
    items_read: int
    round_trips: int
    by_operation: dict[str, int]
    keys_asked: int
    seconds: float = 0.0  # the invocation's wall time, here against moto
    status: int = 200  # what the handler answered

    @property
    def within_target(self) -> bool:
        return self.items_read <= READS_PER_BINDING * max(self.returned, 1)


def cases(population: Population, first_size: int) -> list[Case]:
    """The lists measured; the identities and the rare tag are among the first bindings
    written, so that each list selects something at every size."""
    first = population.bindings[:first_size]
    present = {i for i in population.identities if population.by_identity[i][-1] < first_size}
    in_order = [i for i in population.identities if i in present]
    several = next(i for i in in_order if len(population.by_identity[i]) == 5)
    everywhere = Counter(tag for b in population.bindings for tag in b.tags)
    early = {tag for b in first for tag in b.tags}
    wanted = RARE_SHARE * len(population.bindings)
    rare = min((t for t in RARE_TAGS if t in early), key=lambda t: abs(everywhere[t] - wanted))
    day = population.first_day + timedelta(days=DAYS // 2)
    week = (population.first_day + timedelta(days=40), population.first_day + timedelta(days=46))
    week_pairs = (("StartDate", week[0].isoformat()), ("EndDate", week[1].isoformat()))

    def tags(*names: str) -> tuple[tuple[str, str], ...]:
        return tuple(("Tag", name) for name in names)

    def who(identities: Sequence[str]) -> tuple[tuple[str, str], ...]:
        return tuple(("Identity", identity) for identity in identities)

    return [
        Case("identity", "1 identity (5 bindings)", who([several])),
        Case("identity", "20 identities", who(in_order[:20])),
        Case("identity", "100 identities (the most a list takes)", who(in_order[:100]), 3),
        Case("one tag", "common tag (newsletter, 45%)", tags("newsletter"), FOLLOWED_PAGES),
        Case("one tag", "medium tag (sports, 6%)", tags("sports")),
        Case("one tag", f"rare tag ({rare}, ~0.1%)", tags(rare)),
        Case("binding type", "sms (10%)", tags("sms")),
        Case("binding type", "apn (45%)", tags("apn"), FOLLOWED_PAGES),
        Case("date", "one day", (("StartDate", day.isoformat()), ("EndDate", day.isoformat()))),
        Case("date", "a week", week_pairs, FOLLOWED_PAGES),
        Case("date", "medium tag in a week", (*tags("sports"), *week_pairs)),
        Case("several tags", "2 common (newsletter+promotions)", tags("newsletter", "promotions")),
        Case("several tags", "2 medium (sports+weather)", tags("sports", "weather"), 2),
        Case("several tags", f"rare+common ({rare}+newsletter)", tags(rare, "newsletter")),
        Case("several tags", f"common+rare (newsletter+{rare})", tags("newsletter", rare)),
        Case("several tags", "tag+type (newsletter+sms)", tags("newsletter", "sms")),
        Case(
            "several tags",
            "3 tags (newsletter+promotions+sports)",
            tags("newsletter", "promotions", "sports"),
        ),
        Case("no filter", "no filter", (), FOLLOWED_PAGES),
    ]


def expected_sids(bindings: Sequence[Any], filters: Any) -> list[str]:
    return sorted(b.sid for b in bindings if b.matches(filters))


@dataclass
class Lister:
    """Lists a case's pages with both designs, counting what each page reads."""

    template: SamTemplate
    functions: LocalFunctions
    functions_client: Any  # dependencies.dynamodb(): the handler's own client
    client: Any  # the bench's client, for the naive design
    tables: dict[str, str]
    account_sid: str
    service_sid: str

    def ours(self, case: Case) -> list[tuple[list[str], PageRead]]:
        (route,) = self.functions.functions[LIST].routes
        path = f"/v1/Services/{self.service_sid}/Bindings"
        query: Sequence[tuple[str, str]] = case.query
        pages = []
        for _ in range(case.pages):
            event = http_api_event(route, path, query=urlencode(query))
            event = with_authorizer_context(event, {"accountSid": self.account_sid})
            started = time.perf_counter()
            with reading(self.functions_client) as (reads, trips):
                response = self.functions.invoke(LIST, event)
            seconds = time.perf_counter() - started
            status = response["statusCode"]
            if status != 200:
                if status != 503:
                    raise RuntimeError(f"{case.label}: {status} {response['body']}")
                # Out of the function's time (its 10 s; moto is slower than DynamoDB): what
                # would the page have read? The same listing, outside an invocation.
                sids, read = self.without_deadline(query)
                read.seconds, read.status = seconds, status
                pages.append((sids, read))
                break
            body = json.loads(response["body"])
            sids = [binding["sid"] for binding in body["bindings"]]
            read = _page_read(len(sids), reads, trips)
            read.seconds = seconds
            pages.append((sids, read))
            following = body["meta"]["next_page_url"]
            if not following:
                break
            query = parse_qsl(urlsplit(following).query)
        return pages

    def without_deadline(self, query: Sequence[tuple[str, str]]) -> tuple[list[str], PageRead]:
        """The page the handler would list (notify_bindings.operations.bindings.list_bindings),
        with no invocation and so no deadline."""
        from notify_bindings.api.page_tokens import Paging, bindings_scope
        from notify_bindings.api.requests.binding_lists import ListBindingsQuery
        from notify_bindings.operations.bindings import list_bindings

        asked = ListBindingsQuery.model_validate(_form(query))
        cursor = Paging(bindings_scope(self.service_sid), asked).cursor()
        with reading(self.functions_client) as (reads, trips):
            listing = list_bindings(
                self.account_sid, self.service_sid, asked.filters(), cursor, asked.page_size
            )
        sids = [binding.sid for binding in listing.items]
        return sids, _page_read(len(sids), reads, trips)

    def naive(self, case: Case, filters: Any) -> list[tuple[list[str], PageRead]]:
        from notify_bindings.dal.dynamo import Retries, batch_get
        from notify_bindings.dal.services import service_key

        after = None
        pages = []
        for _ in range(case.pages):
            with reading(self.client) as (reads, trips):
                # The same check ours makes: the caller's Service, live.
                service = service_key(self.account_sid, self.service_sid)
                batch_get(self.client, {self.tables["ServicesTable"]: [service]}, Retries())
                sids, more = naive_page(
                    self.client, self.tables[NAIVE_TABLE], self.service_sid, filters, after
                )
            pages.append((sids, _page_read(len(sids), reads, trips)))
            if not more:
                break
            after = sids[-1]
        return pages


def naive_page(
    client: Any, table: str, service_sid: str, filters: Any, after: str | None
) -> tuple[list[str], bool]:
    """A page of the naive design (its SIDs, and whether more follow): the Service's
    partition in SID order from just after `after`, every filter a FilterExpression.

    With a filter, each request reads what DynamoDB reads without a Limit (up to 1 MB): a
    Limit would cut a page's matches short, and asking for just what is missing would take a
    round trip per page of items read (thousands for a rare tag). Without one, it asks for
    the page and one more, as ours does.
    """
    from notify_bindings.dal.bindings.items import tag_filter
    from notify_bindings.domain.bindings import IMPLICIT_TAG_ALL
    from notify_bindings.platform.sids import successor

    values: dict[str, Any] = {
        ":service": {"S": service_sid},
        ":low": {"S": successor(after) if after else "BS"},
        ":high": {"S": "BT"},  # every binding SID sorts between "BS" and "BT"
    }
    names: dict[str, str] = {}
    clauses = []
    if filters.identities:
        names["#identity"] = "Identity"
        listed = []
        for number, identity in enumerate(filters.identities):
            values[f":identity{number}"] = {"S": identity}
            listed.append(f":identity{number}")
        clauses.append(f"#identity IN ({', '.join(listed)})")
    tag_clause = tag_filter([t for t in filters.tags if t != IMPLICIT_TAG_ALL], values)
    if tag_clause:
        clauses.append(tag_clause)
    if filters.start_date or filters.end_date:
        names["#created"] = "DateCreated"
    if filters.start_date:
        values[":start"] = {"S": filters.start_date.isoformat()}
        clauses.append("#created >= :start")
    if filters.end_date:
        values[":end"] = {"S": (filters.end_date + timedelta(days=1)).isoformat()}
        clauses.append("#created < :end")
    request: dict[str, Any] = {
        "TableName": table,
        "ConsistentRead": True,
        "KeyConditionExpression": "ServiceSid = :service AND Sid BETWEEN :low AND :high",
        "ExpressionAttributeValues": values,
    }
    if names:
        request["ExpressionAttributeNames"] = names
    if clauses:
        request["FilterExpression"] = " AND ".join(clauses)
    wanted = PAGE_SIZE + 1  # one more, to know whether another page follows
    found: list[str] = []
    while len(found) < wanted:
        limit = {} if clauses else {"Limit": wanted - len(found)}
        response = client.query(**request, **limit)
        found += [item["Sid"]["S"] for item in response.get("Items", [])]
        if "LastEvaluatedKey" not in response:
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found[:PAGE_SIZE], len(found) > PAGE_SIZE


def _page_read(returned: int, reads: Reads, trips: RoundTrips) -> PageRead:
    return PageRead(returned, reads.total, trips.total, dict(reads.by_operation), reads.keys_asked)


def check_pages(
    label: str, pages: list[tuple[list[str], PageRead]], asked: int, wanted: list[str]
) -> None:
    """The pages hold the first matching bindings in SID order, PAGE_SIZE a page; fewer pages
    than asked only when they hold every matching binding."""
    got = [sid for sids, _ in pages for sid in sids]
    expected = wanted[: asked * PAGE_SIZE]
    if got != (expected if len(pages) < asked else wanted[: len(got)]):
        raise AssertionError(f"{label}: pages differ from the model's bindings")
    if any(len(sids) != PAGE_SIZE for sids, _ in pages[:-1]):
        raise AssertionError(f"{label}: a page before the last is not full")


# -- the run -----------------------------------------------------------------------------


@dataclass
class Measured:
    case: Case
    matching: dict[int, int] = field(default_factory=dict)  # size -> bindings matching
    ours: dict[int, list[PageRead]] = field(default_factory=dict)
    naive: dict[int, list[PageRead]] = field(default_factory=dict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-size", type=int, default=SIZES[-1])
    parser.add_argument("--moto", choices=("in-process", "server"), default="in-process")
    parser.add_argument(
        "--populate",
        choices=("direct", "batch-write"),
        default="direct",
        help="after a first size through BatchWriteItem requests, how the rest is written: "
        "Items straight into moto's tables (default), or BatchWriteItem requests (slow)",
    )
    parser.add_argument(
        "--many-tags-share",
        type=float,
        default=MANY_TAGS_SHARE,
        help="the share of identities with 5-8 tags (default %(default)s)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="measure only the lists whose kind or label contains this (repeatable), e.g. "
        "--only 'several tags'",
    )
    args = parser.parse_args()
    sizes = [size for size in SIZES if size <= args.max_size]
    began = time.perf_counter()
    keep_aws_local()
    template = SamTemplate.load()
    put_layers_on_path(template)
    with _moto(args.moto) as endpoint, moto_at_scale.faster():
        measured, timing = run(
            template, endpoint, sizes, args.populate, args.many_tags_share, args.only
        )
    timing["bench_seconds"] = time.perf_counter() - began
    report(measured, sizes, timing, f"{args.populate}, {args.moto}")


@contextmanager
def _moto(kind: str) -> Iterator[str | None]:
    if kind == "server":
        with embedded_dynamodb() as endpoint:
            yield endpoint
        return
    from moto import mock_aws

    from local_api import moto_patches

    moto_patches.install()
    with mock_aws():
        yield None


def run(
    template: SamTemplate,
    endpoint: str | None,
    sizes: list[int],
    populate: str,
    many_tags_share: float,
    only: Sequence[str] = (),
) -> tuple[list[Measured], dict[str, Any]]:
    client = dynamodb_client(endpoint)
    client.create_table(
        TableName=NAIVE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "ServiceSid", "AttributeType": "S"},
            {"AttributeName": "Sid", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "ServiceSid", "KeyType": "HASH"},
            {"AttributeName": "Sid", "KeyType": "RANGE"},
        ],
    )
    # Logs make no DynamoDB calls: keep them out of the way (and metrics: `quietly`).
    local = start_functions(
        template, endpoint, {"POWERTOOLS_LOG_LEVEL": "WARNING"}, {NAIVE_TABLE: NAIVE_TABLE}
    )
    functions, tables = local.functions, local.tables
    warnings.filterwarnings("ignore", "No application metrics to publish")

    from notify_bindings import dependencies
    from notify_bindings.dal.accounts import AccountStore
    from notify_bindings.dal.bindings.items import has_many_tags
    from notify_bindings.domain.services import Service
    from notify_bindings.platform.sids import time_ordered_sid

    account, _ = AccountStore(dependencies.dynamodb(), tables["AccountsTable"]).create_account(
        "bench"
    )
    now = dependencies.now()
    service = Service(time_ordered_sid("IS", now), account.sid, now, now)
    dependencies.service_store().create(service)

    started = time.perf_counter()
    population = Population.generate(account.sid, service.sid, sizes[-1], SEED, many_tags_share)
    many = sum(has_many_tags(binding) for binding in population.bindings)
    timing: dict[str, Any] = {
        "generate_seconds": time.perf_counter() - started,
        "bindings_with_many_tags": many,
        "many_tags_share": many_tags_share,
    }
    measured = [
        Measured(case)
        for case in cases(population, sizes[0])
        if not only or any(part in case.kind or part in case.label for part in only)
    ]
    lister = Lister(
        template, functions, dependencies.dynamodb(), client, tables, account.sid, service.sid
    )
    print(f"{len(population.bindings):,} bindings of {len(population.identities):,} identities "
          f"generated in {timing['generate_seconds']:.1f} s ({many:,} listed under the many-tags "
          f"partition); pages of {PAGE_SIZE}")  # fmt: skip
    written = 0
    populate_seconds = 0.0
    requests = items_written = 0
    # seconds and bindings written each way: BatchWriteItem requests, or moto's put_item
    ways: dict[str, list[float]] = {way: [0.0, 0] for way in ("batch-write", "direct")}
    measure_seconds: dict[int, float] = {}
    audited_at = sizes[min(1, len(sizes) - 1)]
    for size in sizes:
        started = time.perf_counter()
        items = population.items(written, size)
        # The first size through BatchWriteItem requests, as a client would write it; the
        # rest (or all, with --populate batch-write) item by item into moto.
        way = "batch-write" if written == 0 else populate
        if way == "batch-write":
            requests += write(client, tables, items)
        else:
            by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for table, item in items:
                by_table[tables[table]].append(item)
            for table, table_items in by_table.items():
                moto_at_scale.store(table, table_items)
        items_written += len(items)
        elapsed = time.perf_counter() - started
        populate_seconds += elapsed
        ways[way][0] += elapsed
        ways[way][1] += size - written
        written = size
        if size == audited_at:  # bindings written both ways
            audit(client, tables, population, size)
        started = time.perf_counter()
        print(f"\n{size:,} bindings (populated in {populate_seconds:.1f} s so far)")
        print(f"  {'list':<44} {'match':>6} | {'ours: read':>10} {'/bdg':>6} {'trips':>5} | "
              f"{'naive: read':>11} {'/bdg':>8} {'trips':>5}")  # fmt: skip
        bindings = population.bindings[:size]
        with moto_at_scale.frozen(), quietly():
            for entry in measured:
                filters = entry.case.filters()
                wanted = expected_sids(bindings, filters)
                entry.matching[size] = len(wanted)
                ours = lister.ours(entry.case)
                check_pages(f"ours, {entry.case.label}, {size}", ours, entry.case.pages, wanted)
                naive = lister.naive(entry.case, filters)
                check_pages(f"naive, {entry.case.label}, {size}", naive, entry.case.pages, wanted)
                entry.ours[size] = [read for _, read in ours]
                entry.naive[size] = [read for _, read in naive]
                _print_row(entry, size, sys.__stdout__)
        measure_seconds[size] = time.perf_counter() - started
    timing.update(
        populate_seconds=populate_seconds,
        populate_seconds_per_1000_bindings={
            way: seconds / count * 1000 for way, (seconds, count) in ways.items() if count
        },
        populate_requests=requests,
        items_written=items_written,
        largest_record_bytes=population.largest_record,
        measure_seconds=measure_seconds,
    )
    return measured, timing


def audit(client: Any, tables: dict[str, str], population: Population, size: int) -> None:
    """Every item of the Service, as tests/invariants.py checks the store's layout, and the
    bindings it holds are the generator's."""
    from tests.invariants import assert_service_consistent

    started = time.perf_counter()
    found = assert_service_consistent(
        client, tables["BindingsTable"], tables["BindingIndexTable"], population.service_sid
    )
    held = {b.address: b.sid for b in population.bindings[:size]}
    if found.sid_by_address != held:
        raise AssertionError("the audit found other bindings than the generator wrote")
    print(f"audit of all {size:,} bindings' items (tests/invariants.py): consistent "
          f"({time.perf_counter() - started:.1f} s)")  # fmt: skip


def quietly() -> contextlib.redirect_stdout[io.StringIO]:
    """The functions' metrics (CloudWatch EMF lines on stdout) go nowhere meanwhile."""
    return contextlib.redirect_stdout(io.StringIO())


def _print_row(entry: Measured, size: int, out: Any) -> None:
    ours, naive = entry.ours[size][0], entry.naive[size][0]
    print(
        f"  {entry.case.label[:44]:<44} {entry.matching[size]:>6} | "
        f"{ours.items_read:>10} {_ratio(ours):>6} {ours.round_trips:>5} | "
        f"{naive.items_read:>11} {_ratio(naive):>8} {naive.round_trips:>5}",
        file=out,
        flush=True,
    )
    for number, (more, more_naive) in enumerate(
        zip(entry.ours[size][1:], entry.naive[size][1:], strict=False), start=2
    ):
        print(
            f"  {'  page ' + str(number):<44} {'':>6} | "
            f"{more.items_read:>10} {_ratio(more):>6} {more.round_trips:>5} | "
            f"{more_naive.items_read:>11} {_ratio(more_naive):>8} {more_naive.round_trips:>5}",
            file=out,
            flush=True,
        )


def _ratio(page: PageRead) -> str:
    return f"{page.items_read / page.returned:.2f}" if page.returned else "-"


# -- the report --------------------------------------------------------------------------


def report(measured: list[Measured], sizes: list[int], timing: dict[str, Any], moto: str) -> None:
    largest = sizes[-1]
    rows = [_row(entry, sizes, timing["bindings_with_many_tags"]) for entry in measured]
    per_1000 = timing["populate_seconds_per_1000_bindings"]
    rates = ", ".join(f"{way} {seconds:.2f} s" for way, seconds in per_1000.items())
    notes = [
        f"One Service grown to {largest:,} bindings in {len(sizes)} steps "
        f"({', '.join(f'{size:,}' for size in sizes)}), measured at each; pages of {PAGE_SIZE} "
        f"(Twilio's default); seeded generator (seed {SEED}), bindings created over {DAYS} days: "
        "identities of 1-5 bindings (1 in 20: 6-20), apn 45% / fcm 45% / sms 10%, 0-4 tags an "
        "identity from 2 common (45%, 30%), 4 medium (3-6%) and 400 rare (Zipf) tags; and "
        f"{timing['many_tags_share']:.1%} of identities with 5-8 tags "
        f"({timing['bindings_with_many_tags']:,} of the {largest:,} bindings).",
        "Items read: each Query's ScannedCount (what DynamoDB evaluated before any filter, and "
        "charges for) plus the items each BatchGetItem returned (the Service item and identity "
        "records included), summed over the DynamoDB responses of one page, hooked on the "
        "ListBindingsFunction handler's own client.",
        f"A page is within target when items read <= {READS_PER_BINDING} x max(bindings "
        "returned, 1); a case is met when every page measured is.",
        "A handler that answered 503 ran out of its 10 s (against moto, which is slower than "
        "DynamoDB); its page was listed again outside an invocation to count what it reads.",
        "Naive design: one item per binding keyed (ServiceSid, Sid), every filter a "
        "FilterExpression on the Service's partition, each request reading up to 1 MB.",
        f"Populated against moto ({moto}): {timing['items_written']:,} items (the largest "
        f"identity record {timing['largest_record_bytes']:,} bytes as JSON) in "
        f"{timing['populate_seconds']:.1f} s; per 1,000 bindings: {rates}. "
        f"Whole bench {timing['bench_seconds']:.1f} s.",
    ]
    results = {
        "title": TITLE,
        "rows": rows,
        "notes": notes,
        "sizes": sizes,
        "page_size": PAGE_SIZE,
        "timing": timing,
        "cases": [
            {
                "kind": entry.case.kind,
                "label": entry.case.label,
                "query": entry.case.query,
                "matching": entry.matching,
                "ours": {size: [vars(p) for p in pages] for size, pages in entry.ours.items()},
                "naive": {size: [vars(p) for p in pages] for size, pages in entry.naive.items()},
            }
            for entry in measured
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    many, share = timing["bindings_with_many_tags"], timing["many_tags_share"]
    chart(measured, sizes, f"several tags: their combination's partition, and a filter over the\n"
          f"partition of bindings with 5+ tags ({share:.1%} of identities, {many:,} bindings"
          f" at {largest // 1000}k)" if many else "")  # fmt: skip
    print(f"\n{TITLE}, at {largest:,} bindings")
    for row in rows:
        verdict = "met" if row["met"] else "NOT MET"
        print(f"  {verdict:<8} {row['target']}: {row['figure']}")
    print(f"populate {timing['populate_seconds']:.1f} s ({rates} per 1,000 bindings); "
          f"bench {timing['bench_seconds']:.1f} s")  # fmt: skip
    print(f"wrote {RESULTS.relative_to(HERE.parent)} and {CHART.relative_to(HERE.parent)}")


def _row(entry: Measured, sizes: list[int], many: int) -> dict[str, Any]:
    largest = sizes[-1]
    pages = entry.ours[largest]
    returned = sum(page.returned for page in pages)
    read = sum(page.items_read for page in pages)
    worst = max(pages, key=lambda page: page.items_read / max(page.returned, 1))
    naive = entry.naive[largest][0]
    in_target = entry.case.kind != "no filter"
    figure = (
        f"{_per(read, returned)} items read per binding returned ({read} items for {returned} "
        f"bindings over {len(pages)} page(s); worst page {worst.items_read} for "
        f"{worst.returned}; round trips per page {[page.round_trips for page in pages]})"
    )
    limit = f"<= {READS_PER_BINDING} items read per binding returned, every page"
    several = entry.case.kind == "several tags"
    if several:
        # A short page holds every match the many-tags partition's budget let it find: sparse
        # matches (a rare tag) end there, and that page's cost is bounded by the budget.
        from notify_bindings.dal.bindings.reads import ReadBudgets

        budget = ReadBudgets().many_tags
        limit = (
            f"<= {READS_PER_BINDING} items read per binding returned, every full page (a "
            f"short page: within the many-tags budget, {budget:,} items more)"
        )
        matching = entry.matching[largest]
        if many > matching and not all(_page_met(page, several) for page in pages):
            figure += (
                f"; the many-tags partition ({many:,} bindings) outnumbers the combination's "
                f"{matching:,}: a full page reads it over the span of SIDs the page covers, "
                "more of it than the page returns (a layout limit: only a partition of the "
                "many-tags bindings per tag would read fewer)"
            )
        short = [page for page in pages if page.returned < PAGE_SIZE]
        if short:
            figure += (
                f"; short page: {short[-1].items_read} items for {short[-1].returned} "
                f"bindings, within the budget"
                if all(_page_met(page, several) for page in short)
                else "; a short page read past the budget"
            )
    failed = [page for page in pages if page.status != 200]
    if failed:
        figure += f"; the handler answered {failed[0].status} after {failed[0].seconds:.1f} s"
    by_size = ", ".join(f"{size:,}: {entry.ours[size][0].items_read}" for size in sizes)
    naive_by_size = ", ".join(f"{size:,}: {entry.naive[size][0].items_read}" for size in sizes)
    return {
        "target": f"list at {largest:,}, {entry.case.kind}: {entry.case.label}",
        "figure": figure,
        "limit": limit if in_target else "no target (reported)",
        "met": not in_target or (not failed and all(_page_met(page, several) for page in pages)),
        "detail": (
            f"{entry.matching[largest]:,} bindings match; first page items read by size: "
            f"{by_size}; naive design: {naive_by_size} (first page at {largest:,}: "
            f"{naive.round_trips} round trips)"
        ),
    }


def _page_met(page: PageRead, several: bool) -> bool:
    """Within target: at most READS_PER_BINDING items read per binding returned; for a list by
    several tags, a short page may also read up to the many-tags partition's budget more."""
    if page.within_target:
        return True
    if not several or page.returned >= PAGE_SIZE:
        return False
    from notify_bindings.dal.bindings.reads import ReadBudgets

    bound = READS_PER_BINDING * max(page.returned, 1) + ReadBudgets().many_tags
    return page.items_read <= bound


def _per(read: int, returned: int) -> str:
    return f"{read / returned:.2f}" if returned else "-"


def chart(measured: list[Measured], sizes: list[int], note: str = "") -> None:
    """Items read for the first page by Service size, for each kind of list its worst case:
    our design on the left, the naive design on the right, on the same scale."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    kinds = list(dict.fromkeys(entry.case.kind for entry in measured))
    colours = pyplot.get_cmap("tab10")
    figure, panels = pyplot.subplots(1, 2, figsize=(10, 4.6), dpi=80, sharey=True)
    for axes, design, title in (
        (panels[0], "ours", "Our design: an index partition per list"),
        (panels[1], "naive", "Naive: a filter on the Service's partition"),
    ):
        for number, kind in enumerate(kinds):
            entries = [entry for entry in measured if entry.case.kind == kind]
            worst = [
                max((getattr(entry, design)[size][0] for entry in entries),
                    key=lambda page: page.items_read)
                for size in sizes
            ]  # fmt: skip
            reads = [page.items_read for page in worst]
            axes.plot(
                sizes, reads, color=colours(number), marker=MARKERS[number % len(MARKERS)],
                markersize=4, linewidth=1.2, label=kind,
            )  # fmt: skip
            failed = [(size, page.items_read) for size, page in zip(sizes, worst, strict=True)
                      if page.status != 200]  # fmt: skip
            if failed:
                axes.plot(*zip(*failed, strict=True), "x", color="black", markersize=8,
                          label="handler answered 503 (out of time)")  # fmt: skip
        axes.axhline(
            READS_PER_BINDING * PAGE_SIZE, color="grey", linewidth=0.8, linestyle=":",
            label=f"{READS_PER_BINDING} per binding of a full page",
        )  # fmt: skip
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(sizes, [f"{size // 1000}k" for size in sizes])
        axes.minorticks_off()
        axes.set_xlabel("bindings in the Service")
        axes.set_title(title, fontsize=10)
        axes.grid(True, linewidth=0.3)
    panels[0].set_ylabel(f"DynamoDB items read, first page of {PAGE_SIZE}")
    panels[1].text(
        0.03, 0.96, "lines that meet read the whole partition", transform=panels[1].transAxes,
        ha="left", va="top", fontsize=7, color="dimgrey",
    )  # fmt: skip
    panels[0].text(
        0.03, 0.96, note, transform=panels[0].transAxes, ha="left", va="top", fontsize=7,
        color="dimgrey", wrap=True,
    )  # fmt: skip
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncols=4, fontsize=8, frameon=False)
    figure.suptitle("Items read per list page as the Service grows (worst case of each kind)")
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    figure.savefig(CHART, dpi=80)
    pyplot.close(figure)


if __name__ == "__main__":
    main()
