"""What every stand-in shares: the record of what it accepted, the faults it is told to
inject, their control API, and an HTTP/1.1 server for the stand-ins on plain HTTP.

Control API (the same on every stand-in, under its base URL):

    GET    <base>/deliveries  -> 200 {"deliveries": [...]}: what it accepted, oldest first
    DELETE <base>/deliveries  -> 204: forget them (and which test-card tokens were seen)
    GET    <base>/faults      -> 200 the fault plan in force, counts as they stand, and how
                                 many faults of each kind it injected so far ("injected":
                                 {"fail": n, "drop": n, "delay": n})
    POST   <base>/faults      -> 204: replace the fault plan with the JSON body (below)
    DELETE <base>/faults      -> 204: no faults

A fault plan (every field optional):

    {"fail_next": 2,          the next 2 provider requests are refused with
     "fail_fraction": 0.1,    ...and then this fraction of the others, at random,
     "fail_status": 503,      with this status (429, 500 or 503; 503 by default), in the
     "retry_after": 1,        provider's error shape, with this Retry-After (none if null)
     "drop_next": 1,          the next request is read (and accepted, if valid), then its
     "drop_fraction": 0.0,    connection closed without an answer: an acceptance lost in transit
     "delay_next": 1,         the next answer (whatever it is) comes this many seconds late
     "delay_fraction": 0.0,
     "delay_seconds": 2.0,
     "timeout_next": 1,       the next request is read (and accepted, if valid), then held
     "timeout_fraction": 0.0, unanswered for timeout_seconds and its connection closed: a
     "timeout_seconds": 12.0, provider that hangs past the client's read timeout (10 s)
     "seed": 7,               for the fractions, to repeat a run
     "target": "send"}        which endpoint: "send" (the default) or "token" (FCM's OAuth)

Faults apply to the provider's own endpoints, never to the control API. A request that is
dropped and delayed is dropped after the delay (a timeout is a drop after timeout_seconds);
one failed is neither accepted nor recorded. A delivery accepted and never answered (dropped,
or timed out) is recorded with `"dropped": true`: an acceptance lost in transit, which the
sender may well send again. Each fraction draws a number only when it is set, in the order
delay, drop, timeout, fail: a plan of fail_fraction alone draws one number a request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("local_api.standins")

MAX_BODY = 1024 * 1024
# How long a timed-out request is held when the plan does not say: past the providers'
# clients' 10 s read timeout.
DEFAULT_TIMEOUT_SECONDS = 12.0
_FAULT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "fail_next": int,
    "fail_fraction": float,
    "fail_status": int,
    "retry_after": (int, float, type(None)),
    "drop_next": int,
    "drop_fraction": float,
    "delay_next": int,
    "delay_fraction": float,
    "delay_seconds": (int, float),
    "timeout_next": int,
    "timeout_fraction": float,
    "timeout_seconds": (int, float),
    "seed": (int, type(None)),
    "target": str,
}


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, document: Any, *headers: tuple[str, str]) -> Answer:
        body = json.dumps(document).encode()
        return cls(status, body, [("content-type", "application/json"), *headers])


class Fault(Enum):
    FAIL = "fail"
    DROP = "drop"


@dataclass(frozen=True)
class Decision:
    """What the fault plan does to one request: an answer `delay` seconds late, and maybe
    a failure instead of the answer, or no answer at all."""

    fault: Fault | None = None
    delay: float = 0.0
    status: int = 503
    retry_after: float | None = None


class FaultPlan:
    """The faults a stand-in is told to inject, per target endpoint. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, dict[str, Any]] = {}
        self._random: dict[str, random.Random] = {}
        self._injected: dict[str, dict[str, int]] = {}

    def set(self, plan: dict[str, Any]) -> None:
        """Replace the plan of `plan["target"]` ("send" by default); ValueError if malformed."""
        if not isinstance(plan, dict):
            raise ValueError("a fault plan is a JSON object")
        for name, value in plan.items():
            kind = _FAULT_FIELDS.get(name)
            if kind is None:
                raise ValueError(f"unknown fault field {name!r}")
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError(f"fault field {name!r} has the wrong type")
        if plan.get("fail_status", 503) not in (429, 500, 503):
            raise ValueError("fail_status must be 429, 500 or 503")
        target = plan.get("target", "send")
        with self._lock:
            self._plans[target] = {**plan, "target": target}
            self._injected[target] = {"fail": 0, "drop": 0, "delay": 0, "timeout": 0}
            # Which requests fail, not a secret.
            self._random[target] = random.Random(plan.get("seed"))  # noqa: S311  # nosec B311

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
            self._injected.clear()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "plans": [
                    {**plan, "injected": dict(self._injected[target])}
                    for target, plan in self._plans.items()
                ]
            }

    def decide(self, target: str = "send") -> Decision:
        with self._lock:
            plan = self._plans.get(target)
            if not plan:
                return Decision()
            draw = self._random[target].random
            delay = plan.get("delay_seconds", 0.0) if self._take(plan, "delay", draw) else 0.0
            fault = None
            injected = self._injected[target]
            injected["delay"] += bool(delay)
            if self._take(plan, "drop", draw):
                fault = Fault.DROP
                injected["drop"] += 1
            elif self._take(plan, "timeout", draw):
                # Held past the client's patience, then dropped: a drop after a long delay.
                fault = Fault.DROP
                delay = plan.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
                injected["timeout"] += 1
            elif self._take(plan, "fail", draw):
                fault = Fault.FAIL
                injected["fail"] += 1
            return Decision(
                fault=fault,
                delay=float(delay),
                status=plan.get("fail_status", 503),
                retry_after=plan.get("retry_after"),
            )

    @staticmethod
    def _take(plan: dict[str, Any], kind: str, draw: Callable[[], float]) -> bool:
        remaining = plan.get(f"{kind}_next", 0)
        if remaining > 0:
            plan[f"{kind}_next"] = remaining - 1
            return True
        fraction = plan.get(f"{kind}_fraction", 0.0)
        return bool(fraction) and draw() < fraction


class Deliveries:
    """What a stand-in accepted, in order, and the test-card tokens it has seen. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accepted: list[dict[str, Any]] = []
        self._seen: set[str] = set()

    def add(self, delivery: dict[str, Any]) -> None:
        with self._lock:
            self._accepted.append(delivery)

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._accepted)

    def clear(self) -> None:
        with self._lock:
            self._accepted.clear()
            self._seen.clear()

    def first_sight(self, token: str) -> bool:
        """True the first time `token` is seen (since the last clear)."""
        with self._lock:
            if token in self._seen:
                return False
            self._seen.add(token)
            return True


class StandIn:
    """The control API and the bookkeeping of one stand-in."""

    def __init__(self) -> None:
        self.deliveries = Deliveries()
        self.faults = FaultPlan()

    def control(self, method: str, path: str, body: bytes) -> Answer | None:
        """The control API's answer, or None when `path` is not one of its paths."""
        if path == "/deliveries":
            if method == "GET":
                return Answer.json(200, {"deliveries": self.deliveries.all()})
            if method == "DELETE":
                self.deliveries.clear()
                return Answer(204)
            return Answer.json(405, {"error": "GET or DELETE"})
        if path == "/faults":
            if method == "GET":
                return Answer.json(200, self.faults.describe())
            if method == "DELETE":
                self.faults.clear()
                return Answer(204)
            if method == "POST":
                try:
                    self.faults.set(json.loads(body or b"{}"))
                except ValueError as error:
                    return Answer.json(400, {"error": str(error)})
                return Answer(204)
            return Answer.json(405, {"error": "GET, POST or DELETE"})
        return None


class Dropped(Exception):
    """The connection is to be closed without an answer."""


class HttpStandInServer(ThreadingHTTPServer):
    """A threading HTTP/1.1 server (keep-alive) answering through `respond`."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, respond: Callable[[str, str, dict[str, str], bytes], Answer], port: int = 0
    ) -> None:
        super().__init__(("127.0.0.1", port), _HttpHandler)
        self.respond = respond
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body would wait for the
    # client's delayed ACK (tens of milliseconds an answer).
    disable_nagle_algorithm = True
    server: HttpStandInServer

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            self._write(Answer.json(413, {"error": "body too large"}))
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            answer = self.server.respond(self.command, self.path, headers, body)
        except Dropped:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(answer)

    def _write(self, answer: Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        log.debug("%s " + format, self.address_string(), *args)
