"""DynamoDB round trips per operation, counted, against the targets of the performance issue.

Targets: fetch 1; create of a new address <= 2; replace <= 3; delete <= 2; a list page <= 2 per
page returned. The Service operations, their background purge and the authorizer have no
target: their counts are reported beside them.

How: the template's functions run in this process against an embedded moto server, as under
`make run`, each invoked with the event API Gateway would send once the authorizer has proved
the caller. Around each measured invocation, `local_api.round_trips.counting` hooks the
functions' own DynamoDB client (`dependencies.dynamodb()`) at botocore's `before-send` event,
so every HTTP request sent is counted - botocore's retries, further pages and repeated
transactions included - by operation name. Setting up a case (creating the bindings it needs)
is not counted. `tests/handlers/test_round_trips.py` asserts the same targets in `make test`.

Run: .venv/bin/python -m bench.round_trips   (writes bench/results/round_trips.json; seconds)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from bench.local_functions import start_functions
from local_api.events import (
    LambdaContext,
    authorizer_event,
    http_api_event,
    sqs_event,
    with_authorizer_context,
)
from local_api.round_trips import RoundTrips, counting
from local_api.runtime import (
    LocalFunctions,
    LocalQueue,
    embedded_dynamodb,
    keep_aws_local,
    put_layers_on_path,
    sqs_client,
)
from local_api.template import SamTemplate

RESULTS = Path(__file__).resolve().parent / "results" / "round_trips.json"
TITLE = "DynamoDB round trips per operation"
LIMITS = {"fetch": 1, "create": 2, "replace": 3, "delete": 2}
LIST_TRIPS_PER_PAGE = 2
PAGE_SIZE = 3  # small, so that a handful of bindings gives a first page and a next one
# For a list by several tags: how many bindings the first tag's partition holds, and which
# share of them carry the other tag too (the query filters on it).
MULTI_TAG_PARTITION = 200
MULTI_TAG_PAGE_SIZE = 50
MULTI_TAG_SHARES = (1, 2, 10)  # every binding, one in two, one in ten

CREATE = "CreateBindingFunction"
FETCH = "FetchBindingFunction"
LIST = "ListBindingsFunction"
DELETE = "DeleteBindingFunction"


@dataclass
class Row:
    target: str
    trips: RoundTrips
    limit: int | None  # None: no target, reported only
    sqs: RoundTrips | None = None

    def as_json(self) -> dict[str, Any]:
        detail = repr(self.trips)
        if self.sqs is not None and self.sqs.total:
            detail += f"; SQS: {self.sqs!r}"
        return {
            "target": self.target,
            "figure": f"{self.trips.total} round trip(s)",
            "limit": "no target (reported)" if self.limit is None else f"<= {self.limit}",
            "met": self.limit is None or self.trips.total <= self.limit,
            "detail": detail,
            "round_trips": self.trips.total,
            "by_operation": self.trips.by_operation,
        }


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class Bench:
    """Invokes the template's functions as a proven account, counting each call's requests."""

    template: SamTemplate
    functions: LocalFunctions
    dynamodb: Any  # the functions' own client: dependencies.dynamodb()
    sqs: Any
    account_sid: str
    rows: list[Row] = field(default_factory=list)

    def call(
        self,
        logical_id: str,
        path: str,
        *,
        form: Mapping[str, Any] | None = None,
        query: Sequence[tuple[str, str]] | Mapping[str, Any] = (),
        trips: RoundTrips | None = None,
        sqs_trips: RoundTrips | None = None,
    ) -> Reply:
        (route,) = self.functions.functions[logical_id].routes
        body, headers = b"", {}
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        event = http_api_event(
            route, path, query=urlencode(query, doseq=True), headers=headers, body=body
        )
        event = with_authorizer_context(event, {"accountSid": self.account_sid})
        with quietly(), counting(self.dynamodb, trips), counting(self.sqs, sqs_trips):
            response = self.functions.invoke(logical_id, event)
        text = response["body"]
        return Reply(response["statusCode"], json.loads(text) if text else None)

    def measure(
        self, target: str, limit: int | None, logical_id: str, path: str, **request: Any
    ) -> Reply:
        trips, sqs_trips = RoundTrips(), RoundTrips()
        reply = self.call(logical_id, path, trips=trips, sqs_trips=sqs_trips, **request)
        if reply.status >= 300 and reply.status != 404:
            raise RuntimeError(f"{target}: {reply.status} {reply.body}")
        self.add(Row(target, trips, limit, sqs=sqs_trips))
        return reply

    def add(self, row: Row) -> None:
        self.rows.append(row)
        limit = "-" if row.limit is None else f"<= {row.limit}"
        verdict = "" if row.limit is None else ("met" if row.trips.total <= row.limit else "MISSED")
        print(f"  {row.target:<66} {row.trips.total:>3} {limit:>6} {verdict:<6}  {row.trips!r}")

    # -- bindings --------------------------------------------------------------------------

    def new_service(self) -> str:
        reply = self.call("CreateServiceFunction", "/v1/Services", form={"FriendlyName": "bench"})
        sid: str = reply.body["sid"]
        return sid

    def create(self, service_sid: str, **form: Any) -> dict[str, Any]:
        fields = {"Identity": "alice", "BindingType": "apn", "Address": "token-1", **form}
        reply = self.call(CREATE, _bindings(service_sid), form=fields)
        if reply.status not in (200, 201):
            raise RuntimeError(f"create: {reply.status} {reply.body}")
        body: dict[str, Any] = reply.body
        return body

    def measure_create(self, target: str, service_sid: str, limit: int, **form: Any) -> None:
        fields = {"Identity": "alice", "BindingType": "apn", "Address": "token-1", **form}
        self.measure(target, limit, CREATE, _bindings(service_sid), form=fields)

    def measure_list(self, target: str, service_sid: str, query: list[tuple[str, str]]) -> None:
        """The first page, then the page its next-page URL leads to."""
        for which in ("first page", "next page"):
            trips = RoundTrips()
            reply = self.call(LIST, _bindings(service_sid), query=query, trips=trips)
            if reply.status != 200:
                raise RuntimeError(f"{target}: {reply.status} {reply.body}")
            if which == "first page" and not reply.body["meta"]["next_page_url"]:
                raise RuntimeError(f"{target}: no next page to follow")
            self.add(Row(f"list {target}: {which}", trips, LIST_TRIPS_PER_PAGE))
            query = parse_qsl(urlsplit(reply.body["meta"]["next_page_url"] or "").query)


def quietly() -> contextlib.redirect_stdout[io.StringIO]:
    """The functions' metrics (CloudWatch EMF lines on stdout) go nowhere meanwhile."""
    return contextlib.redirect_stdout(io.StringIO())


def _bindings(service_sid: str) -> str:
    return f"/v1/Services/{service_sid}/Bindings"


def binding_cases(bench: Bench) -> None:
    service = bench.new_service()
    path = _bindings(service)
    kept = bench.create(service, Identity="alice", Address="alice-1")
    bench.create(service, Identity="alice", Address="alice-2")

    def fetch(target: str, sid: str) -> None:
        bench.measure(target, LIMITS["fetch"], FETCH, f"{path}/{sid}")

    def put(target: str, limit: int, identity: str, address: str, **form: Any) -> None:
        bench.measure_create(target, service, limit, Identity=identity, Address=address, **form)

    def delete(target: str, sid: str) -> None:
        bench.measure(target, LIMITS["delete"], DELETE, f"{path}/{sid}")

    print("bindings")
    fetch("fetch", kept["sid"])
    fetch("fetch: no such binding (404)", "BS" + "0" * 32)

    create, replace = LIMITS["create"], LIMITS["replace"]
    put("create: new address, new identity", create, "bob", "bob-1")
    put("create: new address, identity with bindings", create, "alice", "alice-3")
    put("create: identical to the live binding (unchanged)", create, "alice", "alice-3")

    put("replace: same identity", replace, "alice", "alice-3", Tag=["replaced"])
    put("replace: to another identity, old one keeps others", replace, "carol", "alice-3")
    bench.create(service, Identity="dave", Address="dave-1")
    put("replace: to another identity, old one's last binding", replace, "carol", "dave-1")
    bench.create(service, Identity="erin", Address="erin-1")
    put("replace: to a new identity, old one's last binding", replace, "frank", "erin-1")

    delete("delete: identity keeps other bindings", bench.create(service, Address="alice-9")["sid"])
    last = bench.create(service, Identity="gina", Address="gina-1")["sid"]
    delete("delete: the identity's last binding", last)
    delete("delete: no such binding (404)", last)


def list_cases(bench: Bench) -> None:
    service = bench.new_service()
    today = datetime.now(UTC).date().isoformat()
    for number in range(2 * PAGE_SIZE + 1):
        bench.create(
            service,
            Identity="alice" if number % 2 else "bob",
            BindingType="fcm" if number % 3 else "sms",
            Address=f"+1555000{number:04d}",
            Tag=["news", "sports"],
        )
    size = [("PageSize", str(PAGE_SIZE))]
    print(f"list pages of {PAGE_SIZE}, first and next (limit: {LIST_TRIPS_PER_PAGE} per page)")
    bench.measure_list("with no filter", service, size)
    bench.measure_list("by identity", service, [("Identity", "alice"), ("Identity", "bob"), *size])
    bench.measure_list("by one tag", service, [("Tag", "news"), *size])
    bench.measure_list("by binding type", service, [("Tag", "fcm"), *size])
    bench.measure_list("by date", service, [("StartDate", today), ("EndDate", today), *size])
    bench.measure_list("by several tags", service, [("Tag", "news"), ("Tag", "sports"), *size])


def multi_tag_cases(bench: Bench) -> None:
    """A list by several tags keys its query on one tag and filters on the others, so the
    round trips a page takes depend on how many of the first tag's bindings the filter keeps."""
    print(
        f"list by two tags, pages of {MULTI_TAG_PAGE_SIZE}, first tag on "
        f"{MULTI_TAG_PARTITION} bindings"
    )
    for share in MULTI_TAG_SHARES:
        service = bench.new_service()
        for number in range(MULTI_TAG_PARTITION):
            tags = ["news", "sports"] if number % share == 0 else ["news"]
            bench.create(service, Identity=f"user-{number}", Address=f"t{number}", Tag=tags)
        query = [("Tag", "news"), ("Tag", "sports"), ("PageSize", str(MULTI_TAG_PAGE_SIZE))]
        trips = RoundTrips()
        reply = bench.call(LIST, _bindings(service), query=query, trips=trips)
        returned = len(reply.body["bindings"])
        kept = "every one" if share == 1 else f"1 in {share}"
        bench.add(
            Row(
                f"list by two tags, {kept} has both: first page ({returned})",
                trips,
                LIST_TRIPS_PER_PAGE,
            )
        )


def service_cases(bench: Bench, queue: LocalQueue) -> None:
    services = "/v1/Services"

    def measure(target: str, function: str, path: str = services, **request: Any) -> Reply:
        return bench.measure(target, None, f"{function}ServiceFunction", path, **request)

    def list_services(target: str, query: list[tuple[str, str]]) -> Reply:
        return bench.measure(target, None, "ListServicesFunction", services, query=query)

    print("Services (no target)")
    sid = measure("create Service", "Create", form={"FriendlyName": "bench"}).body["sid"]
    measure("fetch Service", "Fetch", f"{services}/{sid}")
    measure("update Service", "Update", f"{services}/{sid}", form={"FriendlyName": "renamed"})
    for _ in range(PAGE_SIZE):
        bench.new_service()
    size = [("PageSize", str(PAGE_SIZE))]
    first = list_services("list Services: first page", size)
    list_services(
        "list Services: next page", parse_qsl(urlsplit(first.body["meta"]["next_page_url"]).query)
    )
    list_services("list Services: by friendly name", [("FriendlyName", "renamed"), *size])

    bindings = 10
    for number in range(bindings):
        bench.create(sid, Identity=f"user-{number % 4}", Address=f"t{number}", Tag=["news"])
    measure("delete Service (marks it; the purge follows)", "Delete", f"{services}/{sid}")
    trips, sqs_trips = RoundTrips(), RoundTrips()
    with quietly(), counting(bench.dynamodb, trips), counting(bench.sqs, sqs_trips):
        handled = purge_all(bench, queue)
    target = f"purge a deleted Service of {bindings} bindings ({handled} message(s))"
    bench.add(Row(target, trips, None, sqs=sqs_trips))


def purge_all(bench: Bench, queue: LocalQueue) -> int:
    """Deliver the purge queue's messages to PurgeServiceFunction, as Lambda's poller would."""
    poller = sqs_client(bench.functions.environment.get("SQS_ENDPOINT_URL") or None)
    function = bench.functions.functions["PurgeServiceFunction"]
    handled = 0
    while messages := poller.receive_message(QueueUrl=queue.url).get("Messages", []):
        context = LambdaContext(function.logical_id, timeout_seconds=function.timeout)
        function.load_handler()(sqs_event(messages, queue.arn), context)
        poller.delete_message(QueueUrl=queue.url, ReceiptHandle=messages[0]["ReceiptHandle"])
        handled += 1
    return handled


def authorizer_cases(bench: Bench, account_sid: str, token: str, key_sid: str, secret: str) -> None:
    print("authorizer (no target)")
    function = bench.functions.functions["AuthorizerFunction"]
    route = bench.functions.functions["FetchServiceFunction"].routes[0]
    authorize = function.load_handler()
    cases = (
        ("authorizer: auth token, first request", account_sid, token),
        ("authorizer: auth token, credentials cached", account_sid, token),
        ("authorizer: API key, first request", key_sid, secret),
        ("authorizer: API key, credentials cached", key_sid, secret),
    )
    for target, username, password in cases:
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        request = http_api_event(
            route, "/v1/Services/IS" + "0" * 32, headers={"Authorization": f"Basic {credentials}"}
        )
        trips = RoundTrips()
        with counting(bench.dynamodb, trips):
            answer = authorize(
                authorizer_event(request),
                LambdaContext(function.logical_id, timeout_seconds=function.timeout),
            )
        if answer["context"].get("accountSid") != account_sid:
            raise RuntimeError(f"{target}: not authorized: {answer}")
        bench.add(Row(target, trips, None))


def write_results(rows: list[Row], path: Path) -> None:
    targets = [row for row in rows if row.limit is not None]
    notes = [
        "Counted with a botocore before-send hook on the functions' DynamoDB client: every "
        "HTTP request sent, botocore's retries included; setting up a case is not counted.",
        "The template's functions run in-process against an embedded moto server, invoked "
        "with the events API Gateway sends behind the authorizer.",
        f"List pages hold {PAGE_SIZE} bindings and each list kind is measured on its first "
        "page and on the page its next_page_url leads to.",
        "Rows with no target (Services, the purge, the authorizer) are reported only.",
        "A list by several tags queries the partition of one tag and filters on the others. "
        "DynamoDB's Limit counts the items a query reads, not those the filter keeps, so the "
        "store queries again until the page is full (or the partition ends): the fewer of the "
        "first tag's bindings carry the other tags, the more round trips a page takes.",
        f"{sum(row.trips.total <= (row.limit or 0) for row in targets)} of {len(targets)} "
        "targeted cases met.",
    ]
    result = {
        "title": TITLE,
        "rows": [row.as_json() for row in rows],
        "notes": notes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    keep_aws_local()
    template = SamTemplate.load()
    put_layers_on_path(template)
    with embedded_dynamodb() as endpoint:
        # Logs make no DynamoDB calls: keep them off this table's way (and metrics: `quietly`).
        quiet = {"POWERTOOLS_LOG_LEVEL": "WARNING", "AUTH_CACHE_SECONDS": "60"}
        local = start_functions(template, endpoint, quiet)
        functions, tables, queues = local.functions, local.tables, local.queues
        warnings.filterwarnings("ignore", "No application metrics to publish")
        from notify_bindings import dependencies
        from notify_bindings.dal.accounts import AccountStore

        dependencies.reset()
        accounts = AccountStore(dependencies.dynamodb(), tables["AccountsTable"])
        account, token = accounts.create_account("bench")
        key, secret = accounts.create_api_key(account.sid, "bench")
        bench = Bench(template, functions, dependencies.dynamodb(), dependencies.sqs(), account.sid)
        print(f"{'case':<68} {'trips':>5} {'limit':>6}")
        binding_cases(bench)
        list_cases(bench)
        multi_tag_cases(bench)
        service_cases(bench, queues["ServicePurgeQueue"])
        authorizer_cases(bench, account.sid, token, key.sid, secret)
    missed = [
        row.target for row in bench.rows if row.limit is not None and row.trips.total > row.limit
    ]
    print("every target met" if not missed else f"targets missed: {', '.join(missed)}")
    write_results(bench.rows, args.out)


if __name__ == "__main__":
    main()
