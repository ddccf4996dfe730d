"""notify-migrate's HTTP side against a scripted server on 127.0.0.1: what it sends through the
twilio client, how it waits and tries again when an API says "later" (429 and 5xx, honouring
Retry-After), when it gives up, how it pages and shrinks pages that fail, and how the loader
orders and counts writes. The whole CLI against two real local APIs is in
test_migrate_end_to_end.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from notify_migrate.records import CredentialMap, Record, StoredBinding, record_from
from notify_migrate.remote import (
    MAX_WAIT_SECONDS,
    WRITE_ATTEMPTS,
    Credentials,
    Refused,
    Remote,
    RemoteFailure,
    Stopped,
    retry_after,
)
from notify_migrate.transfer import Item, Loader, Outcome, Progress, Summary

SERVICE = "IS" + "a" * 32
ACCOUNT = Credentials("AC" + "b" * 32, "c" * 32, "AC" + "b" * 32)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]


Answer = tuple[int, dict[str, str], dict[str, Any]]


@dataclass
class Script:
    """What the server answers: `answer(seen)` for each request, all of which it records."""

    answer: Callable[[Seen], Answer]
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
def script() -> Iterator[tuple[Script, str]]:
    holder: dict[str, Script] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            seen = Seen(self.command, parts.path, parse_qs(parts.query), parse_qs(body))
            holder["script"].seen.append(seen)
            status, headers, payload = holder["script"].answer(seen)
            content = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    holder["script"] = Script(lambda seen: (500, {}, {}))
    try:
        yield holder["script"], f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class RecordingEvent(threading.Event):
    """The stop event, recording every wait instead of sleeping it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


def binding_json(address: str, identity: str = "alice", sid: str = "BS" + "d" * 32) -> Any:
    return {
        "sid": sid,
        "identity": identity,
        "binding_type": "fcm",
        "address": address,
        "tags": ["news"],
        "credential_sid": None,
        "notification_protocol_version": "3",
        "endpoint": None,
    }


def error(status: int, message: str, code: int = 20001) -> Answer:
    return status, {}, {"code": code, "message": message, "more_info": "", "status": status}


RECORD = record_from(binding_json("token-1"))


def test_given_a_record_when_created_then_the_official_client_posts_its_form_with_credentials(
    script,
):
    server, url = script
    server.answer = lambda seen: (201, {}, binding_json("token-1"))

    created = Remote(url, SERVICE, ACCOUNT, threading.Event()).create(RECORD)

    (seen,) = server.seen
    assert (seen.method, seen.path) == ("POST", f"/v1/Services/{SERVICE}/Bindings")
    assert seen.form == {
        "Identity": ["alice"],
        "BindingType": ["fcm"],
        "Address": ["token-1"],
        "Tag": ["news"],
        "NotificationProtocolVersion": ["3"],
    }
    assert created == StoredBinding("BS" + "d" * 32, "alice", "fcm", frozenset({"news"}), None, "3")


def test_given_429s_with_retry_after_when_creating_then_it_waits_as_asked_and_tries_again(script):
    server, url = script
    answers: Iterator[Answer] = iter(
        [(429, {"Retry-After": "7"}, {}), (503, {"Retry-After": "2"}, {})]
    )
    server.answer = lambda seen: next(answers, (201, {}, binding_json("token-1")))
    stopping = RecordingEvent()

    Remote(url, SERVICE, ACCOUNT, stopping).create(RECORD)

    assert len(server.seen) == 3
    assert stopping.waits == [7.0, 2.0]


def test_given_an_api_that_keeps_throttling_when_creating_then_it_gives_up_and_fails(script):
    server, url = script
    server.answer = lambda seen: (429, {"Retry-After": "120"}, {"message": "Too many requests"})
    stopping = RecordingEvent()

    with pytest.raises(RemoteFailure) as failed:
        Remote(url, SERVICE, ACCOUNT, stopping).create(RECORD)

    assert failed.value.status == 429
    assert len(server.seen) == WRITE_ATTEMPTS
    assert stopping.waits == [MAX_WAIT_SECONDS] * (WRITE_ATTEMPTS - 1)  # capped


def test_given_a_400_when_creating_then_the_record_is_refused_with_the_apis_own_message(script):
    server, url = script
    server.answer = lambda seen: error(400, "Parameter 'Address' is invalid: too long")

    with pytest.raises(Refused) as refused:
        Remote(url, SERVICE, ACCOUNT, threading.Event()).create(RECORD)

    assert refused.value.message == "Parameter 'Address' is invalid: too long"
    assert len(server.seen) == 1  # not tried again


@pytest.mark.parametrize("status", [401, 404])
def test_given_a_401_or_404_when_creating_then_the_run_fails_rather_than_rejecting(script, status):
    server, url = script
    server.answer = lambda seen: error(status, "Authenticate", code=20003)

    with pytest.raises(RemoteFailure) as failed:
        Remote(url, SERVICE, ACCOUNT, threading.Event()).create(RECORD)

    assert failed.value.status == status


def test_given_the_run_is_stopping_when_a_retry_would_wait_then_it_stops_at_once(script):
    server, url = script
    server.answer = lambda seen: (503, {"Retry-After": "30"}, {})
    stopping = threading.Event()
    stopping.set()

    started = time.monotonic()
    with pytest.raises(Stopped):
        Remote(url, SERVICE, ACCOUNT, stopping).create(RECORD)

    assert time.monotonic() - started < 5
    assert server.seen == []  # nothing is sent once stopping


def test_given_retry_after_as_a_date_or_garbage_then_it_is_read_or_ignored():
    assert retry_after({"Retry-After": "12"}, 0.0) == 12.0
    assert retry_after({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, 90.0) == 10.0
    assert retry_after({"Retry-After": "soon"}, 0.0) is None
    assert retry_after({}, 0.0) is None


def test_given_pages_when_listing_then_it_follows_next_page_url_asking_for_the_page_size(script):
    server, url = script

    def answer(seen: Seen) -> Answer:
        page = int(seen.query.get("Page", ["0"])[0])
        following = f"{url}/v1/Services/{SERVICE}/Bindings?PageSize=2&Page={page + 1}&PageToken=x"
        return (
            200,
            {},
            {
                "bindings": [binding_json(f"t{page}-{n}") for n in range(2 if page < 2 else 1)],
                "meta": {"key": "bindings", "next_page_url": following if page < 2 else None},
            },
        )

    server.answer = answer

    listed = list(Remote(url, SERVICE, ACCOUNT, threading.Event()).bindings(page_size=2))

    assert [b["address"] for b in listed] == ["t0-0", "t0-1", "t1-0", "t1-1", "t2-0"]
    assert [s.query["PageSize"] for s in server.seen] == [["2"]] * 3
    assert server.seen[2].query["PageToken"] == ["x"]


def test_given_pages_too_large_for_the_api_when_listing_then_it_asks_for_smaller_ones(script):
    server, url = script
    server.answer = lambda seen: (
        error(503, "Service temporarily unavailable", 20503)
        if int(seen.query["PageSize"][0]) > 250
        else (200, {}, {"bindings": [binding_json("t")], "meta": {"next_page_url": None}})
    )
    sizes: list[int] = []

    remote = Remote(url, SERVICE, ACCOUNT, RecordingEvent())
    listed = list(remote.bindings(1000, sizes.append))

    assert len(listed) == 1
    assert sizes == [500, 250]


def test_given_no_such_service_when_checked_then_it_fails_saying_not_found(script):
    server, url = script
    server.answer = lambda seen: error(404, "The requested resource was not found", 20404)

    with pytest.raises(RemoteFailure, match=r"not found \(404"):
        Remote(url, SERVICE, ACCOUNT, threading.Event()).check_service()


class FakeTarget:
    """A target whose creates take a little while, recording their order: for the loader's
    ordering and counting, which do not depend on HTTP."""

    service_sid = SERVICE

    def __init__(self, held: list[dict[str, Any]], refuse: set[str]) -> None:
        self.held = held
        self.refuse = refuse
        self.created: list[tuple[str, str]] = []
        self.records: list[Record] = []  # as they were given
        self.lock = threading.Lock()
        self.count = 0

    def bindings(self, page_size: int, on_page_size: Any) -> Iterator[dict[str, Any]]:
        return iter(self.held)

    def create(self, record: Record) -> StoredBinding:
        time.sleep(0.02 if record.address.endswith("slow") else 0.001)
        if record.address in self.refuse:
            raise Refused("Identity already has the maximum of 20 Bindings", 400)
        with self.lock:
            self.created.append((record.identity, record.address))
            self.records.append(record)
            self.count += 1
            sid = f"BS{self.count:032x}"
        return StoredBinding(
            sid,
            record.identity,
            record.binding_type,
            frozenset(record.tags),
            record.credential_sid,
            record.notification_protocol_version,
        )


def item(
    number: int,
    identity: str,
    address: str,
    tags: list[str] | None = None,
    credential_sid: str | None = None,
) -> Item:
    record = record_from(
        {"identity": identity, "binding_type": "fcm", "address": address, "tags": tags or []}
        | {"notification_protocol_version": "3", "credential_sid": credential_sid}
    )
    return Item(f"line {number}", record, None, {}, line=number)


def quiet_loader(
    target: FakeTarget,
    summary: Summary,
    *,
    workers: int,
    keep_existing: bool = False,
    credentials: CredentialMap | None = None,
) -> Loader:
    """A Loader into `target` without a progress bar or a rejects file."""
    return Loader(
        target,  # type: ignore[arg-type]
        summary,
        workers=workers,
        progress=Progress(False),
        rejects=None,
        stopping=threading.Event(),
        keep_existing=keep_existing,
        credentials=credentials,
    )


def test_given_records_of_one_identity_when_loaded_by_many_workers_then_they_are_written_in_order():
    target = FakeTarget([], refuse=set())
    summary = Summary("import")
    loader = quiet_loader(target, summary, workers=8)
    items = [item(n, "alice" if n % 2 else f"user{n}", f"addr{n}-slow") for n in range(40)]

    loader.load(items, "import", len(items))

    alice = [address for identity, address in target.created if identity == "alice"]
    assert alice == [f"addr{n}-slow" for n in range(1, 40, 2)]
    assert summary.counts == {Outcome.CREATED: 40}


def test_given_a_target_holding_some_records_when_loaded_then_only_the_others_are_written():
    held = [
        binding_json("same") | {"tags": []},  # as the record has it
        binding_json("moved", identity="bob", sid="BS" + "e" * 32),  # another identity
    ]
    target = FakeTarget(held, refuse={"refused"})
    summary = Summary("import")
    loader = quiet_loader(target, summary, workers=4)
    loader.read_target(1000)

    loader.load(
        [
            item(1, "alice", "same"),
            item(2, "alice", "moved"),
            item(3, "carol", "new"),
            item(4, "dave", "refused"),
            Item("line 5", None, "malformed JSON", "{"),
        ],
        "import",
        5,
    )

    assert sorted(target.created) == [("alice", "moved"), ("carol", "new")]
    assert summary.counts == {
        Outcome.UNCHANGED: 1,
        Outcome.REPLACED: 1,
        Outcome.CREATED: 1,
        Outcome.REJECTED: 2,
    }
    assert summary.examples == {
        "Identity already has the maximum of 20 Bindings": ["line 4"],
        "malformed JSON": ["line 5"],
    }


def test_given_keep_existing_when_a_record_differs_from_the_binding_held_then_that_is_kept():
    held = [binding_json("moved", identity="bob", sid="BS" + "e" * 32)]
    target = FakeTarget(held, refuse=set())
    summary = Summary("migrate")
    loader = quiet_loader(target, summary, workers=2, keep_existing=True)
    loader.read_target(1000)

    loader.load([item(1, "alice", "moved"), item(2, "carol", "new")], "migrate")

    assert target.created == [("carol", "new")]
    assert summary.counts == {Outcome.UNCHANGED: 1, Outcome.CREATED: 1}


def test_given_records_naming_the_sources_credentials_when_loaded_then_mapped_ones_are_rewritten_and_the_rest_dropped():  # noqa: E501
    twilio_apn, twilio_fcm, ours = "CR" + "1" * 32, "CR" + "2" * 32, "CR" + "9" * 32
    credentials = CredentialMap({twilio_apn: ours})
    items = [
        item(1, "alice", "a", credential_sid=twilio_apn),
        item(2, "bob", "b", credential_sid=twilio_fcm),
        item(3, "carol", "c", credential_sid=twilio_fcm),
        item(4, "dave", "d"),
    ]
    target = FakeTarget([], refuse=set())
    summary = Summary("import")

    quiet_loader(target, summary, workers=2, credentials=credentials).load(items, "import")

    # Then the target was given the mapped Credential, or none
    given = {record.address: record.credential_sid for record in target.records}
    assert given == {"a": ours, "b": None, "c": None, "d": None}
    assert summary.counts == {Outcome.CREATED: 4}
    assert summary.dropped_credentials == {twilio_fcm: 2}
    assert summary.mapped_credentials == 1
    # ... and a run again finds each as it is: the rewritten records are the ones compared
    held = [
        binding_json(record.address, record.identity, f"BS{n:032x}")
        | {"tags": [], "credential_sid": record.credential_sid}
        for n, record in enumerate(target.records)
    ]
    again_target, again = FakeTarget(held, refuse=set()), Summary("import")
    loader = quiet_loader(again_target, again, workers=2, credentials=credentials)
    loader.read_target(1000)
    loader.load(items, "import")
    assert again.counts == {Outcome.UNCHANGED: 4}
    assert again_target.records == []
    assert again.dropped_credentials == {twilio_fcm: 2}
