"""DynamoDB failures injected into a botocore client, as DynamoDB and the network produce them.

`FaultInjector.install(client)` hooks the client's `before-send` event, so a fault meets the
client exactly where a real one would: below botocore's own retries (which send the same
request again, `ClientRequestToken` included) and above the layer's code. Each attempt fails
or not as a `script` says, then as a random seeded with `seed` decides (with probability
`rate`), so a failing run is replayed by its seed.

Two kinds of fault:

- refused: DynamoDB answers an error and changes nothing (throttling, an internal error, a
  transaction conflict, keys left unprocessed), or the request never arrives (a connect
  timeout; a read timeout on a request lost on the way). The attempt is answered without
  reaching the tables;
- lost: DynamoDB carries the request out and its answer is lost (a read timeout after the
  write). moto executes the attempt, then the timeout replaces its answer.

moto's in-process DynamoDB is itself a `before-send` handler, which runs whatever the
handlers before it return; a refused attempt is therefore pointed at a `.invalid` address
(RFC 2606) that moto does not serve. A lost attempt is handed to moto's handler at once, and
the timeout raised after it keeps moto from running it again.

moto ignores `ClientRequestToken`, which DynamoDB honours for 10 minutes: a
`TransactWriteItems` sent again with the token of one that succeeded succeeds again without
writing, or answers TransactionInProgressException while the first is still being applied.
The injector plays DynamoDB's part for the transactions whose answer it lost.

Timeouts take time: a connect or read timeout advances the `VirtualClock` by the client's
connect or read timeout, as waiting for it would.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

UNSERVED_URL = "https://dynamodb.fault-injected.invalid/"
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_BATCHES = frozenset({"BatchGetItem", "BatchWriteItem"})
_TRANSACTION = "TransactWriteItems"


class VirtualClock:
    """Monotonic time in which waiting is free: a sleep (or a timeout) adds its length to the
    time that passes, without passing it."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def now(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)


@dataclass(frozen=True)
class Fault:
    name: str
    applies_to: Callable[[str], bool]
    lost: bool = False  # carried out by DynamoDB, then the answer is lost
    repeats_only: bool = False  # only for a transaction sent again after it took effect


def _any(_: str) -> bool:
    return True


def _transaction(operation: str) -> bool:
    return operation == _TRANSACTION


LOST = "ReadTimeoutError after the write"
IN_PROGRESS = "TransactionInProgressException"
FAULTS = {
    fault.name: fault
    for fault in (
        Fault("ProvisionedThroughputExceededException", _any),
        Fault("ThrottlingException", _any),
        Fault("InternalServerError", _any),
        Fault("TransactionConflict", _transaction),  # a cancellation reason
        Fault("ThrottlingError", _transaction),  # a cancellation reason
        Fault("TransactionConflictException", lambda operation: operation in _WRITES),
        Fault("Unprocessed", lambda operation: operation in _BATCHES),
        Fault("ConnectTimeoutError", _any),
        Fault("ReadTimeoutError", _any),
        Fault(LOST, lambda operation: operation in _WRITES or operation == _TRANSACTION, True),
        Fault(IN_PROGRESS, _transaction, repeats_only=True),
    )
}
FAULT_NAMES = frozenset(FAULTS)


@dataclass
class FaultInjector:
    """Fails the attempts of a client's calls to `operations` (all by default): first as
    `script` says (a fault's name, or None for no fault, per attempt), then each with
    probability `rate`, with one of `faults` chosen by a random seeded with `seed`."""

    seed: int
    rate: float
    clock: VirtualClock
    faults: frozenset[str] = FAULT_NAMES
    operations: frozenset[str] | None = None
    script: list[str | None] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)  # by fault
    attempts: Counter[str] = field(default_factory=Counter)  # by operation
    lost_writes: int = 0  # lost answers of requests that DynamoDB carried out
    _random: random.Random = field(init=False)
    _applied_tokens: set[str] = field(default_factory=set)
    _paused: bool = False
    _clients: list[Any] = field(default_factory=list)
    _timeouts: tuple[float, float] = (0.0, 0.0)  # the client's (connect, read)

    def __post_init__(self) -> None:
        unknown = (self.faults | {name for name in self.script if name}) - FAULT_NAMES
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        self._random = random.Random(self.seed)

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())

    @property
    def total_attempts(self) -> int:
        return sum(self.attempts.values())

    def install(self, client: Any) -> None:
        if client.meta.service_model.service_id.hyphenize() != "dynamodb":
            raise ValueError("the faults are DynamoDB's")
        config = client.meta.config
        self._timeouts = (float(config.connect_timeout), float(config.read_timeout))
        # Before every other before-send handler: the layer's deadline guard and moto.
        client.meta.events.register_first("before-send.dynamodb", self._before_send)
        self._clients.append(client)

    def uninstall(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-send.dynamodb", self._before_send)
        self._clients.clear()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No faults meanwhile: for checking what a storm left."""
        self._paused, was = True, self._paused
        try:
            yield
        finally:
            self._paused = was

    def summary(self) -> str:
        faults = ", ".join(f"{name} {count}" for name, count in sorted(self.injected.items()))
        return (
            f"{self.total_injected} faults injected into {self.total_attempts} DynamoDB "
            f"attempts (seed {self.seed}): {faults or 'none'}"
        )

    # -- the hook ------------------------------------------------------------------------

    def _before_send(
        self, request: AWSPreparedRequest, event_name: str, **_: Any
    ) -> AWSResponse | None:
        if self._paused:
            return None
        operation = _operation(request)
        self.attempts[operation] += 1
        token = _token(request) if operation == _TRANSACTION else ""
        repeated = token in self._applied_tokens
        fault = self._choose(operation, repeated)
        if fault is None or (repeated and fault.lost):
            # A repeat of a transaction that took effect: DynamoDB's idempotent success.
            return _answered(request, 200, {}) if repeated else None
        self.injected[fault.name] += 1
        connect_timeout, read_timeout = self._timeouts
        if fault.lost:
            answer = _executed(event_name, request)
            if answer.status_code == 200:
                self.lost_writes += 1
                if token:
                    self._applied_tokens.add(token)
            self.clock.sleep(read_timeout)
            raise ReadTimeoutError(endpoint_url=request.url)
        if fault.name == "ConnectTimeoutError":
            self.clock.sleep(connect_timeout)
            raise ConnectTimeoutError(endpoint_url=request.url)
        if fault.name == "ReadTimeoutError":
            self.clock.sleep(read_timeout)
            raise ReadTimeoutError(endpoint_url=request.url)
        return _answered(request, *_refusal(fault, operation, request, self._random))

    def _choose(self, operation: str, repeated: bool) -> Fault | None:
        if self.operations is not None and operation not in self.operations:
            return None
        if self.script:
            name = self.script.pop(0)
            return FAULTS[name] if name else None
        if self._random.random() >= self.rate:
            return None
        possible = [
            fault
            for name, fault in sorted(FAULTS.items())
            if name in self.faults
            and fault.applies_to(operation)
            and (repeated or not fault.repeats_only)
        ]
        return self._random.choice(possible) if possible else None


def _operation(request: AWSPreparedRequest) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    if isinstance(target, bytes):
        target = target.decode()
    return str(target).rpartition(".")[2]


def _body(request: AWSPreparedRequest) -> dict[str, Any]:
    body = request.body
    if isinstance(body, bytes):
        body = body.decode()
    parsed: dict[str, Any] = json.loads(body or "{}")
    return parsed


def _token(request: AWSPreparedRequest) -> str:
    return str(_body(request).get("ClientRequestToken", ""))


def _refusal(
    fault: Fault, operation: str, request: AWSPreparedRequest, rng: random.Random
) -> tuple[int, Any]:
    """The status and JSON body DynamoDB refuses the attempt with."""
    if fault.name == "InternalServerError":
        return 500, _error("InternalServerError", "Internal server error")
    if fault.name in {"TransactionConflict", "ThrottlingError"}:
        items = _body(request).get("TransactItems", [])
        failing = rng.randrange(len(items)) if items else 0
        reasons = [
            {"Code": fault.name, "Message": "injected"} if position == failing else {"Code": "None"}
            for position in range(len(items))
        ]
        error = _error("TransactionCanceledException", f"Transaction cancelled [{fault.name}]")
        return 400, {**error, "CancellationReasons": reasons}
    if fault.name == "Unprocessed":
        items = _body(request).get("RequestItems", {})
        if operation == "BatchGetItem":
            return 200, {"Responses": {}, "UnprocessedKeys": items}
        return 200, {"UnprocessedItems": items}
    return 400, _error(fault.name, "injected")


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": f"{_ERROR_PREFIX}{code}", "message": message}


def _answered(request: AWSPreparedRequest, status: int, body: Any) -> AWSResponse:
    request.url = UNSERVED_URL  # so that moto, a later before-send handler, cannot serve it
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse(UNSERVED_URL, status, headers, _Raw(json.dumps(body).encode()))


def _executed(event_name: str, request: AWSPreparedRequest) -> AWSResponse:
    """moto's in-process DynamoDB carries the attempt out now."""
    from moto.core.models import botocore_stubber

    answer: AWSResponse | None = botocore_stubber(event_name, request)
    if answer is None:
        raise RuntimeError("a lost answer needs moto's in-process DynamoDB (mock_aws)")
    return answer


class _Raw:
    """The raw stream of an AWSResponse: botocore reads the whole body from it."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self._data
