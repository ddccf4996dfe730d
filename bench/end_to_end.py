"""End to end: one notification to a tag that N bindings hold, fanned out and delivered through
the local pipeline, and what the stand-ins received compared with the bindings.

Targets (performance issue, 4 and 6):
- every binding receives exactly one request (none missing, none twice) and the notification's
  `deliveries` add up (total = N = sent, failed 0, pending 0);
- with the stand-ins failing a share of their requests (`--faults 0.1`: 503 with Retry-After,
  connections dropped after the request was accepted, answers withheld past the client's read
  timeout), every binding is still sent - at least once, or reported failed after the sender's
  last attempt - the only bindings sent twice are those whose acceptance was lost in transit
  (each stand-in marks a delivery it accepted and never answered), and the counts add up
  against the delivery states the callbacks reported.

How: everything `make run` serves runs in this process (local_api's `running`): the local API,
its embedded moto, the SQS pollers that invoke the resolving and delivering functions, and the
APNs, FCM and Twilio stand-ins. The bench drives it through its public entry points only:
Credentials and the Service through the API, the notification through the official twilio
client, its progress through `GET .../Notifications/{Sid}`, the stand-ins through their
control API (`/deliveries`, `/faults`). Only the population is written around the API: N
bindings (apn, fcm and sms mixed, each of an identity of its own, each tagged TAG) are put
straight into moto's tables as the binding store's transactions would write them
(`bench/moto_at_scale.py`): the bench measures sending, not binding creation. The time runs
from the notification's create to the fetch that shows nothing pending.

Run: .venv/bin/python -m bench.end_to_end [--recipients N] [--faults 0.1 --fault-recipients M]
Writes bench/results/end_to_end.json. About 8 minutes on 2 cores: 100,000 recipients in about
3, then the faults run at 1,000 (whose timeouts and Retry-After waits take most of its 4).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests

from bench import listing_scale, moto_at_scale
from local_api.accounts import AccountRequest
from local_api.runtime import keep_aws_local
from local_api.template import SamTemplate

RESULTS = Path(__file__).resolve().parent / "results" / "end_to_end.json"
TITLE = "End to end: one notification through the local pipeline"
# The issue's size; see main() for what the default run sends.
ISSUE_RECIPIENTS = 100_000
DEFAULT_RECIPIENTS = 100_000
DEFAULT_FAULT_RECIPIENTS = 1_000
DEFAULT_FAULTS = 0.1
# How a fault fraction is shared between the kinds of fault, each stand-in alike.
FAULT_SHARES = {"fail": 0.5, "drop": 0.4, "timeout": 0.1}
# Past the providers' clients' 10 s read timeout: the client gives up first.
TIMEOUT_SECONDS = 12.0
RETRY_AFTER_SECONDS = 1
TAG = "everyone"
MIX = {"apn": 0.45, "fcm": 0.45, "sms": 0.10}
CHANNELS = tuple(MIX)
# What each stand-in's deliveries name the address by.
ADDRESS_FIELD = {"apn": "device_token", "fcm": "token", "sms": "to"}
SEED = 18
POLL_SECONDS = 1.0
PROGRESS_SECONDS = 30.0
HTTP_SECONDS = 120
METRICS_DISABLED = "POWERTOOLS_METRICS_DISABLED"
# Counts standing still for this long past the longest visibility timeout: the bench gives up.
STALL_SECONDS = 120.0
PIPELINE_QUEUES = ("ResolveQueue", "DeliveryQueue")


# -- population --------------------------------------------------------------------------


def addresses(count: int, seed: int) -> list[tuple[str, str]]:
    """(binding type, address) for `count` bindings, MIX-weighted, every address distinct and
    none a test card of the stand-ins (`dead`, `bad`, `busy`, `other`, `mismatch` tokens,
    Twilio's +1500555 numbers): a push token starts with its channel's letter and its number."""
    rng = random.Random(seed)  # nosec B311 - a population, not a secret
    kinds, weights = list(MIX), list(MIX.values())
    made = []
    for number in range(count):
        kind = rng.choices(kinds, weights)[0]
        if kind == "apn":
            address = f"a{number:09x}{rng.randbytes(27).hex()}"  # 64 hex digits, as Apple's
        elif kind == "fcm":
            address = f"f{number:09d}{rng.randbytes(60).hex()}"
        else:
            address = f"+1555{number:07d}"
        made.append((kind, address))
    return made


def write_bindings(
    account_sid: str,
    service_sid: str,
    chosen: list[tuple[str, str]],
    tables: Mapping[str, str],
) -> dict[str, str]:
    """Put a binding for each (type, address) into moto's tables, each of an identity of its
    own and tagged TAG, as BindingStore.put's transactions write them (listing_scale's
    Population builds the items; tests/bench/test_listing_scale_population.py compares them
    with what `put` writes); binding SID -> address."""
    from notify_bindings.domain.bindings import Binding, BindingType
    from notify_bindings.platform.sids import new_binding_sid

    now = datetime.now(UTC)
    bindings = [
        Binding(
            sid=new_binding_sid(now),
            account_sid=account_sid,
            service_sid=service_sid,
            identity=f"user-{number:07d}",
            binding_type=BindingType(kind),
            address=address,
            tags=(TAG,),
            credential_sid=None,  # the Service's
            notification_protocol_version="3" if BindingType(kind).is_push else None,
            date_created=now,
        )
        for number, (kind, address) in enumerate(chosen)
    ]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for logical_id, item in listing_scale.Population.of(bindings).items(0, len(bindings)):
        if logical_id in tables:  # not listing_scale's naive design's table
            by_table.setdefault(tables[logical_id], []).append(item)
    for table, items in by_table.items():
        moto_at_scale.store(table, items)
    # Millions of objects now live in moto's tables, and each full collection of Python's
    # cyclic garbage collector would walk them all (a second or more at 100,000 bindings):
    # they stay as long as the tables do, so the collector leaves them be.
    gc.freeze()
    return {binding.sid: binding.address for binding in bindings}


# -- the local API -----------------------------------------------------------------------


@dataclass
class Pipeline:
    """The local API running in this process, and what the bench reaches it with."""

    url: str
    account_sid: str
    auth_token: str
    standins: Any  # local_api.delivery_standins.DeliveryStandIns
    tables: dict[str, str]
    # How long the counts may stand still: a batch that a function left unfinished (its
    # deadline came) is taken again after its queue's visibility timeout.
    patience: float = STALL_SECONDS
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.account_sid, self.auth_token)

    def call(self, method: str, path: str, expected: int, **kwargs: Any) -> Any:
        answer = self.http.request(
            method, f"{self.url}{path}", auth=self.auth, timeout=HTTP_SECONDS, **kwargs
        )
        if answer.status_code != expected:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    def control(self, channel: str, method: str, path: str, **kwargs: Any) -> Any:
        """A stand-in's control API (APNs' over HTTP/1.1 with its CA)."""
        standin = {"apn": self.standins.apns, "fcm": self.standins.fcm, "sms": self.standins.twilio}
        verify = self.standins.apns.ca_file if channel == "apn" else True
        answer = self.http.request(
            method,
            f"{standin[channel].base_url}{path}",
            timeout=HTTP_SECONDS,
            verify=verify,
            **kwargs,
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"{channel} {method} {path}: {answer.status_code} {answer.text}")
        return answer.json() if answer.content else None


@contextmanager
def running_pipeline() -> Iterator[Pipeline]:
    from local_api.__main__ import running

    keep_aws_local()
    # The functions' metrics would go to stdout, between the bench's lines.
    metrics_disabled = os.environ.get(METRICS_DISABLED)
    os.environ[METRICS_DISABLED] = "true"
    template = SamTemplate.load()
    # No TTL sweep meanwhile: it scans the tables (100,000s of items) under moto's lock, and
    # nothing here expires.
    environ = {"TTL_SWEEP_SECONDS": "86400", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    with running(template, ("127.0.0.1", 0), environ, [AccountRequest("bench")]) as api:
        api.server.serve_in_background()
        try:
            (account,) = api.accounts
            assert api.standins is not None
            pipeline = Pipeline(
                api.server.base_url,
                account.sid,
                account.auth_token,
                api.standins,
                {logical_id: logical_id for logical_id in template.tables},
                STALL_SECONDS + max(visibility_timeouts(template)),
            )
            pipeline.http.trust_env = False
            yield pipeline
        finally:
            api.server.shutdown()
            if metrics_disabled is None:
                os.environ.pop(METRICS_DISABLED, None)
            else:
                os.environ[METRICS_DISABLED] = metrics_disabled


def visibility_timeouts(template: SamTemplate) -> list[float]:
    """The seconds a message taken from each of the sending pipeline's queues stays hidden."""
    queues = template.queues
    return [float(queues[name].get("VisibilityTimeout", 30)) for name in PIPELINE_QUEUES]


def sending_service(pipeline: Pipeline) -> str:
    """A Service whose apn, fcm and sms credentials the stand-ins accept, made through the API."""
    from local_api import delivery_standins as dev

    standins = pipeline.standins
    apn = pipeline.call(
        "POST",
        "/v1/Credentials",
        201,
        data={
            "Type": "apn",
            "PrivateKey": Path(standins.apns_key_file).read_text(),
            "ApnKeyId": dev.APNS_KEY_ID,
            "ApnTeamId": dev.APNS_TEAM_ID,
            "ApnTopic": dev.APNS_TOPIC,
        },
    )
    fcm = pipeline.call(
        "POST",
        "/v1/Credentials",
        201,
        data={"Type": "fcm", "Secret": Path(standins.service_account_file).read_text()},
    )
    sms = pipeline.call(
        "POST",
        "/v1/Credentials",
        201,
        data={"Type": "sms", "ApiKey": pipeline.account_sid, "Secret": pipeline.auth_token},
    )
    service = pipeline.call(
        "POST",
        "/v1/Services",
        201,
        data={
            "FriendlyName": "end to end",
            "ApnCredentialSid": apn["sid"],
            "FcmCredentialSid": fcm["sid"],
            "MessagingServiceSid": "MG" + "0" * 32,
            "SmsCredentialSid": sms["sid"],
        },
    )
    return str(service["sid"])


# -- callbacks ---------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """Delivery callbacks on loopback: every DeliveryState they report."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.states: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/callbacks"


class _Recorder(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        form = parse_qs(body.decode(), keep_blank_values=True)
        with self.server.lock:
            self.server.states += [json.loads(state) for state in form.get("DeliveryState", [])]
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


# -- one run -----------------------------------------------------------------------------


@dataclass
class Run:
    """What one notification to N bindings came to."""

    recipients: int
    faults: float
    seconds: float
    deliveries: dict[str, int]
    accepted: dict[str, Counter[str]]  # by channel: address -> requests accepted
    lost: dict[str, Counter[str]]  # by channel: address -> acceptances whose answer was lost
    injected: dict[str, dict[str, int]]  # by channel: faults injected, by kind
    requests: int = 0  # provider requests the stand-ins saw (for the fault share)
    states: list[dict[str, Any]] = field(default_factory=list)
    bindings: dict[str, str] = field(default_factory=dict)  # binding SID -> address
    populate_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.recipients / self.seconds if self.seconds else 0.0

    def check(self) -> list[str]:
        """What is wrong, in words: nothing when the run met its target."""
        problems = []
        wanted = set(self.bindings.values())
        counts: Counter[str] = Counter()
        for accepted in self.accepted.values():
            counts.update(accepted)
        lost: Counter[str] = Counter()
        for channel_lost in self.lost.values():
            lost.update(channel_lost)
        stray = set(counts) - wanted
        if stray:
            problems.append(f"{len(stray)} requests to addresses of no binding")
        failed_states = {s["binding_sid"] for s in self.states if s["status"] == "FAILED"}
        failed = {self.bindings[sid] for sid in failed_states if sid in self.bindings}
        missing = wanted - set(counts) - failed
        if missing:
            problems.append(f"{len(missing)} bindings received nothing")
        twice = {a: n for a, n in counts.items() if n > 1}
        unexplained = {a: n for a, n in twice.items() if n - 1 > lost[a]}
        if unexplained:
            problems.append(
                f"{len(unexplained)} bindings received more requests than lost acceptances explain"
            )
        d = self.deliveries
        if d["total"] != self.recipients:
            problems.append(f"total {d['total']}, not {self.recipients}")
        if d["pending"] != 0 or d["sent"] + d["failed"] != d["total"]:
            problems.append(f"counts do not add up: {d}")
        if not self.faults and (d["failed"] or d["sent"] != self.recipients):
            problems.append(f"without faults every delivery is sent: {d}")
        if self.states:
            by_status = Counter(state["status"] for state in self.states)
            if by_status["SENT"] != d["sent"] or by_status["FAILED"] != d["failed"]:
                problems.append(f"callbacks reported {dict(by_status)}, the counts say {d}")
            if len(self.states) != self.recipients:
                problems.append(f"{len(self.states)} delivery states for {self.recipients}")
        if not self.faults and self.requests != self.recipients:
            problems.append(f"{self.requests} requests for {self.recipients} bindings")
        return problems

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for accepted in self.accepted.values() for n in accepted.values())

    @property
    def lost_acceptances(self) -> int:
        return sum(sum(channel.values()) for channel in self.lost.values())


def run_once(
    pipeline: Pipeline,
    recipients: int,
    *,
    faults: float = 0.0,
    seed: int = SEED,
    timeout_seconds: float = TIMEOUT_SECONDS,
    callbacks: bool = False,
) -> Run:
    """One Service of `recipients` bindings, one notification to them, and what came of it."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    service_sid = sending_service(pipeline)
    chosen = addresses(recipients, seed)
    started = time.perf_counter()
    bindings = write_bindings(pipeline.account_sid, service_sid, chosen, pipeline.tables)
    populate_seconds = time.perf_counter() - started
    for channel in CHANNELS:
        pipeline.control(channel, "DELETE", "/deliveries")
        pipeline.control(channel, "DELETE", "/faults")
        if faults:
            plan = fault_plan(faults, seed, channel, timeout_seconds)
            pipeline.control(channel, "POST", "/faults", json=plan)
    receiver = Receiver() if callbacks else None
    if receiver is not None:
        threading.Thread(target=receiver.serve_forever, daemon=True).start()

    http_client = TwilioHttpClient(timeout=HTTP_SECONDS)
    http_client.session.trust_env = False
    client = Client(pipeline.account_sid, pipeline.auth_token, http_client=http_client)
    client.notify.base_url = pipeline.url
    started = time.perf_counter()
    notification = client.notify.v1.services(service_sid).notifications.create(
        tag=[TAG],
        body="Hello from the end-to-end bench",
        title="Bench",
        **({"delivery_callback_url": receiver.url} if receiver is not None else {}),
    )
    deliveries = wait_until_delivered(pipeline, service_sid, notification.sid, recipients)
    seconds = time.perf_counter() - started
    if receiver is not None:
        wait_for_states(receiver, recipients)
        receiver.shutdown()
        receiver.server_close()

    accepted: dict[str, Counter[str]] = {}
    lost: dict[str, Counter[str]] = {}
    injected: dict[str, dict[str, int]] = {}
    requests_seen = 0
    for channel in CHANNELS:
        field_name = ADDRESS_FIELD[channel]
        records = pipeline.control(channel, "GET", "/deliveries")["deliveries"]
        accepted[channel] = Counter(record[field_name] for record in records)
        lost[channel] = Counter(record[field_name] for record in records if record.get("dropped"))
        plans = pipeline.control(channel, "GET", "/faults")["plans"]
        injected[channel] = next(
            (plan["injected"] for plan in plans if plan["target"] == "send"), {}
        )
        requests_seen += len(records) + injected[channel].get("fail", 0)
        pipeline.control(channel, "DELETE", "/faults")
        pipeline.control(channel, "DELETE", "/deliveries")
    return Run(
        recipients,
        faults,
        seconds,
        deliveries,
        accepted,
        lost,
        injected,
        requests_seen,
        [] if receiver is None else receiver.states,
        bindings,
        populate_seconds,
    )


def fault_plan(fraction: float, seed: int, channel: str, timeout_seconds: float) -> dict[str, Any]:
    """A stand-in's seeded plan: `fraction` of its requests faulted, shared as FAULT_SHARES."""
    return {
        "fail_fraction": fraction * FAULT_SHARES["fail"],
        "fail_status": 503,
        "retry_after": RETRY_AFTER_SECONDS,
        "drop_fraction": fraction * FAULT_SHARES["drop"],
        "timeout_fraction": fraction * FAULT_SHARES["timeout"],
        "timeout_seconds": timeout_seconds,
        "seed": seed + CHANNELS.index(channel),
    }


def wait_until_delivered(
    pipeline: Pipeline, service_sid: str, notification_sid: str, recipients: int
) -> dict[str, int]:
    """The notification's `deliveries` once all `recipients` are counted and none is pending;
    RuntimeError when nothing moves for a long while."""
    path = f"/v1/Services/{service_sid}/Notifications/{notification_sid}"
    last, stalled_since = None, time.monotonic()
    started = shown = time.monotonic()
    while True:
        deliveries: dict[str, int] = pipeline.call("GET", path, 200)["deliveries"]
        if deliveries["total"] >= recipients and deliveries["pending"] == 0:
            return deliveries
        if time.monotonic() - shown >= PROGRESS_SECONDS:
            shown = time.monotonic()
            done = deliveries["sent"] + deliveries["failed"]
            print(f"  {shown - started:5.0f} s: {deliveries['total']:,} resolved, {done:,} "
                  "delivered", flush=True)  # fmt: skip
        if deliveries != last:
            last, stalled_since = deliveries, time.monotonic()
        elif time.monotonic() - stalled_since > pipeline.patience:
            raise RuntimeError(f"no progress for {pipeline.patience:.0f} s: {deliveries}")
        time.sleep(POLL_SECONDS)


def wait_for_states(receiver: Receiver, recipients: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with receiver.lock:
            if len(receiver.states) >= recipients:
                return
        time.sleep(0.2)


# -- report ------------------------------------------------------------------------------


def describe(run: Run) -> str:
    d = run.deliveries
    text = (
        f"{run.recipients:,} recipients in {run.seconds:.1f} s ({run.rate:,.0f} deliveries/s); "
        f"deliveries total {d['total']:,} = sent {d['sent']:,} + failed {d['failed']:,}, "
        f"pending {d['pending']}"
    )
    if run.faults:
        kinds: Counter[str] = Counter()
        for injected in run.injected.values():
            kinds.update(injected)
        faulted = sum(kinds[kind] for kind in ("fail", "drop", "timeout"))
        share = faulted / run.requests if run.requests else 0.0
        text += (
            f"; {faulted:,} of {run.requests:,} provider requests faulted ({share:.1%}: "
            f"{kinds['fail']} refused 503, {kinds['drop']} dropped, {kinds['timeout']} timed "
            f"out); {run.duplicates} requests sent again to a binding that had one, "
            f"{run.lost_acceptances} acceptances lost in transit"
        )
    return text


def rows_of(clean: Run | None, faulted: Run | None) -> list[dict[str, Any]]:
    rows = []
    if clean is not None:
        problems = clean.check()
        rows.append(
            {
                "target": f"exactly one request per binding, {clean.recipients:,} recipients",
                "figure": "; ".join(problems)
                or (
                    f"{clean.recipients:,} bindings, {sum(map(len, clean.accepted.values())):,} "
                    f"received one request each, none twice; counts exact"
                ),
                "limit": "each binding exactly once; total = sent, failed 0, pending 0",
                "met": not problems,
            }
        )
        rows.append(
            {
                "target": f"time to deliver, {clean.recipients:,} recipients",
                "figure": f"{clean.seconds:.1f} s ({clean.rate:,.0f} deliveries/s)",
                "limit": "no target (local, one delivering process)",
                "met": True,
            }
        )
    if faulted is not None:
        problems = faulted.check()
        rows.append(
            {
                "target": (
                    f"under {faulted.faults:.0%} faults, {faulted.recipients:,} recipients: "
                    "every binding sent, duplicates only for lost acceptances"
                ),
                "figure": "; ".join(problems) or describe(faulted),
                "limit": "none missing; sent twice <= acceptances lost; counts add up",
                "met": not problems,
            }
        )
    return rows


def notes_of(clean: Run | None, faulted: Run | None, timeout_seconds: float) -> list[str]:
    notes = [
        "Everything `make run` serves runs in the bench's process: the local API, its embedded "
        "moto (one request at a time), the SQS pollers invoking the resolving and delivering "
        "functions (one invocation of each at a time, as one execution environment), and the "
        "APNs, FCM and Twilio stand-ins, all sharing one interpreter: times are local and "
        "relative, a floor of the pipeline's own cost rather than a deployment's speed, which "
        "spreads over DeliveryConcurrency functions.",
        "The bindings (apn 45%, fcm 45%, sms 10%, each of an identity of its own, all tagged "
        f"{TAG!r}) are written straight into moto's tables, not through the API; the time runs "
        "from the notification's create (official twilio client) to the fetch that shows all "
        "of them counted and none pending.",
    ]
    if clean is not None:
        notes.append(
            f"Population written in {clean.populate_seconds:.1f} s. moto's reads are answered "
            "as JSON (bench/moto_at_scale.py `faster`), and the population is frozen out of "
            "Python's garbage collector: both only make moto's own bookkeeping cheaper."
        )
    if faulted is not None:
        shares = ", ".join(f"{kind} {share:.0%}" for kind, share in FAULT_SHARES.items())
        notes.append(
            f"Faults: each stand-in draws from its own seeded random (seed {SEED + 1} on); of "
            f"the faults, {shares}: fail = 503 with Retry-After {RETRY_AFTER_SECONDS} s; drop = "
            "the request accepted, its connection closed unanswered; timeout = accepted, held "
            f"{timeout_seconds:g} s (the clients' read timeout is 10 s), closed unanswered. A "
            "stand-in marks each delivery it accepted and never answered as dropped: those "
            "are the acceptances lost in transit, the only ones the sender may send again. A "
            "binding every attempt of which faulted is reported failed (sending.MAX_ATTEMPTS)."
        )
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--recipients",
        type=int,
        default=DEFAULT_RECIPIENTS,
        help="bindings of the run without faults (0: no such run)",
    )
    parser.add_argument(
        "--faults",
        type=float,
        default=DEFAULT_FAULTS,
        help="share of provider requests faulted in the second run (0: no such run)",
    )
    parser.add_argument("--fault-recipients", type=int, default=DEFAULT_FAULT_RECIPIENTS)
    parser.add_argument(
        "--timeout-seconds",
        type=float,
        default=TIMEOUT_SECONDS,
        help="how long a timed-out request is held before its connection drops",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", "No application metrics to publish")

    clean = faulted = None
    with running_pipeline() as pipeline, moto_at_scale.faster():
        if args.recipients:
            clean = run_once(pipeline, args.recipients, seed=args.seed)
            print(describe(clean), flush=True)
            for problem in clean.check():
                print(f"  PROBLEM: {problem}", flush=True)
        if args.faults and args.fault_recipients:
            faulted = run_once(
                pipeline,
                args.fault_recipients,
                faults=args.faults,
                seed=args.seed + 1,
                timeout_seconds=args.timeout_seconds,
                callbacks=True,
            )
            print(describe(faulted), flush=True)
            for problem in faulted.check():
                print(f"  PROBLEM: {problem}", flush=True)
    rows = rows_of(clean, faulted)
    notes = notes_of(clean, faulted, args.timeout_seconds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"title": TITLE, "rows": rows, "notes": notes}, indent=2) + "\n")
    met = all(row["met"] for row in rows)
    print("every target met" if met else "TARGET MISSED", flush=True)


if __name__ == "__main__":
    main()
