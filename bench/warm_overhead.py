"""Warm overhead: what our code adds to a request over the DynamoDB calls it makes.

The template's functions run in this process against an embedded moto server, as under
`make run`, with the template's log level and Powertools Logger and Metrics as deployed. For
each operation the DynamoDB calls the handler makes are recorded once (a botocore event hook on
the functions' client: operation, parameters, and the error code each call answered with).
Then, many times, alternating which goes first:

  (a) the warm handler is invoked with a ready HTTP API event (the authorizer's context
      attached, as API Gateway passes it on; the authorizer itself is not measured), and
  (b) the same calls are replayed with a bare, warm boto3 client (the same endpoint and the
      same botocore Config as the functions' client), each answering as recorded.

Writes do real work on both sides every time: (a) creates, replaces and deletes its own
bindings at fresh addresses, and (b) replays the recorded calls with the addresses,
identities, tags and SIDs rewritten to its own fresh ones (and a fresh ClientRequestToken).
Setting up is not timed, nor cleaned up after. Overhead = (median a - median b) / median b; the
target is at most 10%. Both medians include the embedded server's own time, as they would
include DynamoDB's.

Logs and metrics are written as deployed (Powertools writes a JSON log line and an EMF
metrics line to stdout); only the process's stdout goes to /dev/null while timing, where
Lambda would hand it to CloudWatch Logs.

Alongside elapsed time (the target) it reports the process's CPU time for both sides (steady
on a busy machine, where elapsed time is not), and "our code alone": the handler invoked with
each DynamoDB call answered at once with its recorded answer, no request made.
`--profile NAME` shows instead where a handler's time goes (its DynamoDB calls against the
rest, then cProfile).

Run: .venv/bin/python -m bench.warm_overhead [--iterations 200] [--warmup 10] [--budget 8]
         [--only NAME] [--profile NAME]
Writes bench/results/warm_overhead.json (not with --only or --profile: a partial run).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError

from bench.local_functions import start_functions
from local_api.events import LambdaContext, http_api_event, with_authorizer_context
from local_api.runtime import (
    LocalFunctions,
    embedded_dynamodb,
    keep_aws_local,
    put_layers_on_path,
)
from local_api.template import SamTemplate

RESULTS = Path(__file__).parent / "results" / "warm_overhead.json"
LIMIT = 0.10
MIN_ROUNDS = 30
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BINDINGS = "/v1/Services/{ServiceSid}/Bindings"
BINDING = "/v1/Services/{ServiceSid}/Bindings/{Sid}"


# -- recording and replaying DynamoDB calls --------------------------------------------------


@dataclass(frozen=True)
class Call:
    operation: str  # as DynamoDB names it, e.g. "TransactWriteItems"
    params: dict[str, Any]
    error: str | None  # the error code it answered with; None when it succeeded
    answer: dict[str, Any]  # botocore's parsed response


@dataclass(frozen=True)
class Recording:
    """One invocation of a function: its event, the DynamoDB calls it made, its response."""

    function: str
    event: dict[str, Any]
    calls: list[Call]
    response: dict[str, Any]

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.response["body"]) if self.response["body"] else {}


class Recorder:
    """The DynamoDB calls a client makes meanwhile, with what each answered."""

    def __init__(self, client: Any) -> None:
        self._events = client.meta.events
        self.calls: list[Call] = []

    def __enter__(self) -> Recorder:
        self._events.register("provide-client-params.dynamodb", self._called)
        self._events.register("after-call.dynamodb", self._answered)
        return self

    def __exit__(self, *_: object) -> None:
        self._events.unregister("provide-client-params.dynamodb", self._called)
        self._events.unregister("after-call.dynamodb", self._answered)

    def _called(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(Call(model.name, copy.deepcopy(params), None, {}))

    def _answered(self, parsed: dict[str, Any], **_: Any) -> None:
        code = (parsed.get("Error") or {}).get("Code")
        last = self.calls[-1]
        self.calls[-1] = Call(last.operation, last.params, code, copy.deepcopy(parsed))


def rewritten(value: Any, renames: dict[str, str]) -> Any:
    """`value` with every occurrence of each key of `renames` (in keys and values, also inside
    longer strings such as index keys) replaced by its value, in one pass."""
    if not renames:
        return copy.deepcopy(value)
    pattern = re.compile("|".join(map(re.escape, sorted(renames, key=len, reverse=True))))

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return pattern.sub(lambda match: renames[match.group(0)], item)
        if isinstance(item, dict):
            return {walk(key): walk(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [walk(inner) for inner in item]
        return item

    return walk(value)


@dataclass
class Replay:
    """Recorded calls made ready for a bare client: methods looked up, parameters rewritten."""

    steps: list[tuple[Callable[..., Any], dict[str, Any], str | None]]
    ran: bool = False

    @classmethod
    def of(cls, client: Any, calls: list[Call], renames: dict[str, str]) -> Replay:
        steps = []
        for call in calls:
            params = rewritten(call.params, renames)
            if "ClientRequestToken" in params:  # a repeated token would make it a no-op
                params["ClientRequestToken"] = str(uuid.uuid4())
            steps.append((getattr(client, xform_name(call.operation)), params, call.error))
        return cls(steps)

    def run(self) -> list[str | None]:
        self.ran = True
        answers: list[str | None] = []
        for method, params, expected in self.steps:
            try:
                method(**params)
                answers.append(None)
            except ClientError as error:
                if expected is None:
                    raise
                answers.append(error.response.get("Error", {}).get("Code"))
        return answers

    @property
    def expected(self) -> list[str | None]:
        return [expected for _, _, expected in self.steps]


# -- the functions, invoked as Lambda would -----------------------------------------------


class Names:
    """Fresh identifiers of one shape, none a part of another (fixed width, one prefix)."""

    def __init__(self) -> None:
        self._count = 0

    def __call__(self, kind: str) -> str:
        self._count += 1
        return f"{kind}{self._count:08d}"


@dataclass
class Bench:
    template: SamTemplate
    functions: LocalFunctions
    account_sid: str
    layer_client: Any
    bare_client: Any
    names: Names = field(default_factory=Names)

    def route(self, key: str) -> Any:
        return next(route for route in self.template.routes if route.route_key == key)

    def event(
        self, method: str, route: str, path: str, *, query: str = "", form: Any = None
    ) -> dict[str, Any]:
        body = urlencode(form, doseq=True).encode() if form is not None else b""
        return with_authorizer_context(
            http_api_event(
                self.route(f"{method} {route}"),
                path,
                query=query,
                headers=FORM if form is not None else None,
                body=body,
            ),
            {"accountSid": self.account_sid},
        )

    def prepared(self, logical_id: str) -> Callable[[dict[str, Any]], Callable[[], Any]]:
        """An invocation of the warm function with its own Lambda context, ready to time."""
        function = self.functions.functions[logical_id]
        handler = function.load_handler()

        def ready(event: dict[str, Any]) -> Callable[[], Any]:
            context = LambdaContext(
                function_name=logical_id,
                memory_limit_in_mb=function.memory,
                timeout_seconds=function.timeout,
            )
            return lambda: handler(event, context)

        return ready

    def invoke(self, logical_id: str, event: dict[str, Any], status: int) -> dict[str, Any]:
        answer = self.functions.invoke(logical_id, event)
        if answer["statusCode"] != status:
            raise RuntimeError(f"{logical_id} answered {answer['statusCode']}: {answer['body']}")
        return json.loads(answer["body"]) if answer["body"] else {}

    def create_binding(
        self, service_sid: str, address: str, identity: str, tags: list[str]
    ) -> dict[str, Any]:
        form = {"BindingType": "apn", "Address": address, "Identity": identity, "Tag": tags}
        path = BINDINGS.replace("{ServiceSid}", service_sid)
        return self.invoke(
            "CreateBindingFunction", self.event("POST", BINDINGS, path, form=form), 201
        )

    def record(self, logical_id: str, event: dict[str, Any], status: int) -> Recording:
        with Recorder(self.layer_client) as recorder:
            response = self.functions.invoke(logical_id, copy.deepcopy(event))
        if response["statusCode"] != status:
            raise RuntimeError(
                f"{logical_id} answered {response['statusCode']}: {response['body']}"
            )
        return Recording(logical_id, event, recorder.calls, response)


# -- the operations ---------------------------------------------------------------------------


@dataclass
class Round:
    """One iteration of an operation: the handler's invocation and the replay, both ready."""

    invoke: Callable[[], Any]
    status: int
    replay: Replay


@dataclass
class Operation:
    name: str
    recording: Recording
    status: int
    next_round: Callable[[], Round]

    @property
    def function(self) -> str:
        return self.recording.function

    @property
    def calls(self) -> list[Call]:
        return self.recording.calls


def read_only(
    bench: Bench, name: str, function: str, event: Callable[[], dict[str, Any]], status: int = 200
) -> Operation:
    """An operation that changes nothing: every round makes the recorded calls as they are."""
    recording = bench.record(function, event(), status)
    ready = bench.prepared(function)

    def next_round() -> Round:
        return Round(ready(event()), status, Replay.of(bench.bare_client, recording.calls, {}))

    return Operation(name, recording, status, next_round)


def create_operation(bench: Bench, service_sid: str) -> Operation:
    """Create at a new address (and a new identity, so the identity limit never bites); each
    side's bindings are left behind."""
    names = bench.names
    path = BINDINGS.replace("{ServiceSid}", service_sid)

    def event(address: str, identity: str) -> dict[str, Any]:
        form = {"BindingType": "apn", "Address": address, "Identity": identity, "Tag": ["bench"]}
        return bench.event("POST", BINDINGS, path, form=form)

    address, identity = names("address"), names("identity")
    recording = bench.record("CreateBindingFunction", event(address, identity), 201)
    recorded_sid = recording.body["sid"]
    ready = bench.prepared("CreateBindingFunction")
    from notify_bindings.platform.sids import new_binding_sid

    def next_round() -> Round:
        replay_sid = new_binding_sid(_now())
        renames = {
            address: names("address"),
            identity: names("identity"),
            recorded_sid: replay_sid,
        }

        replay = Replay.of(bench.bare_client, recording.calls, renames)
        return Round(ready(event(names("address"), names("identity"))), 201, replay)

    return Operation("create at a new address", recording, 201, next_round)


def replace_operation(bench: Bench, service_sid: str) -> Operation:
    """Replace the binding at an address with one of new tags (so it is a real replace)."""
    names = bench.names
    path = BINDINGS.replace("{ServiceSid}", service_sid)

    def event(address: str, identity: str, tag: str) -> dict[str, Any]:
        form = {"BindingType": "apn", "Address": address, "Identity": identity, "Tag": [tag]}
        return bench.event("POST", BINDINGS, path, form=form)

    recorded_address, recorded_identity = names("address"), names("identity")
    recorded_old_tag, recorded_new_tag = names("tag"), names("tag")
    recorded_old = bench.create_binding(
        service_sid, recorded_address, recorded_identity, [recorded_old_tag]
    )["sid"]
    recording = bench.record(
        "CreateBindingFunction", event(recorded_address, recorded_identity, recorded_new_tag), 201
    )
    recorded_new = recording.body["sid"]
    ready = bench.prepared("CreateBindingFunction")
    from notify_bindings.platform.sids import new_binding_sid

    # Each side keeps its own binding, replaced every round with one of the round's tag.
    address, identity = names("address"), names("identity")
    replay_address, replay_identity = names("address"), names("identity")
    state = {"tag": names("tag")}
    bench.create_binding(service_sid, address, identity, [state["tag"]])
    state["replay_sid"] = bench.create_binding(
        service_sid, replay_address, replay_identity, [state["tag"]]
    )["sid"]

    def next_round() -> Round:
        tag, replay_sid = names("tag"), new_binding_sid(_now())
        renames = {
            recorded_address: replay_address,
            recorded_identity: replay_identity,
            recorded_old: state["replay_sid"],
            recorded_new: replay_sid,
            recorded_old_tag: state["tag"],
            recorded_new_tag: tag,
        }
        state.update(tag=tag, replay_sid=replay_sid)
        return Round(
            ready(event(address, identity, tag)),
            201,
            Replay.of(bench.bare_client, recording.calls, renames),
        )

    return Operation("replace", recording, 201, next_round)


def delete_operation(bench: Bench, service_sid: str) -> Operation:
    """Delete a binding (its identity's only one), created untimed before each round."""
    names = bench.names

    def event(sid: str) -> dict[str, Any]:
        path = BINDING.replace("{ServiceSid}", service_sid).replace("{Sid}", sid)
        return bench.event("DELETE", BINDING, path)

    def fresh() -> tuple[str, str, str]:
        address, identity = names("address"), names("identity")
        return address, identity, bench.create_binding(service_sid, address, identity, ["x"])["sid"]

    recorded_address, recorded_identity, recorded_sid = fresh()
    recording = bench.record("DeleteBindingFunction", event(recorded_sid), 204)
    ready = bench.prepared("DeleteBindingFunction")

    def next_round() -> Round:
        _, _, sid = fresh()
        address, identity, replay_sid = fresh()
        renames = {recorded_address: address, recorded_identity: identity, recorded_sid: replay_sid}
        replay = Replay.of(bench.bare_client, recording.calls, renames)
        return Round(ready(event(sid)), 204, replay)

    return Operation("delete", recording, 204, next_round)


def _now() -> Any:
    from notify_bindings import dependencies

    return dependencies.now()


def operations(bench: Bench, names: Names) -> Iterator[Operation]:
    """Every operation measured, reads first: the writes leave their bindings behind, which
    would slow moto's Query (it reads the whole table) for any listing measured after them."""
    from notify_bindings import dependencies
    from notify_bindings.domain.services import Service
    from notify_bindings.platform.sids import time_ordered_sid

    def new_service() -> str:
        now = dependencies.now()
        service = Service(time_ordered_sid("IS", now), bench.account_sid, now, now)
        dependencies.service_store().create(service)
        return service.sid

    service_sid = new_service()
    for _ in range(8):  # a few more for the Services list
        new_service()
    path = BINDINGS.replace("{ServiceSid}", service_sid)

    # A binding to fetch and to create again as it is.
    address, identity = names("address"), names("identity")
    form = {"BindingType": "apn", "Address": address, "Identity": identity, "Tag": ["bench"]}
    sid = bench.create_binding(service_sid, address, identity, ["bench"])["sid"]
    binding_path = BINDING.replace("{ServiceSid}", service_sid).replace("{Sid}", sid)
    yield read_only(
        bench,
        "fetch binding",
        "FetchBindingFunction",
        lambda: bench.event("GET", BINDING, binding_path),
    )
    yield read_only(
        bench,
        "identical re-create",
        "CreateBindingFunction",
        lambda: bench.event("POST", BINDINGS, path, form=form),
        status=201,
    )

    # Full pages (50, the default size) and no more: every item stored slows moto's Query on
    # both sides alike, which would flatter our share.
    listed = new_service()
    listed_path = BINDINGS.replace("{ServiceSid}", listed)
    identities = ["frequent"] * 20 + ["regular"] * 20 + [names("identity") for _ in range(11)]
    for number, identity in enumerate(identities):
        tags = ["chosen"] if number % 51 else ["other"]  # 50 tagged "chosen"
        bench.create_binding(listed, names("address"), identity, tags)

    def listing(query: str) -> Callable[[], dict[str, Any]]:
        return lambda: bench.event("GET", BINDINGS, listed_path, query=query)

    for name, query in (
        ("list page, no filter", ""),
        ("list page, by tag", "Tag=chosen"),
        ("list page, by identity", "Identity=frequent&Identity=regular"),
    ):
        yield read_only(bench, name, "ListBindingsFunction", listing(query))

    yield read_only(
        bench,
        "fetch Service",
        "FetchServiceFunction",
        lambda: bench.event("GET", "/v1/Services/{Sid}", f"/v1/Services/{service_sid}"),
    )
    yield read_only(
        bench,
        "list Services",
        "ListServicesFunction",
        lambda: bench.event("GET", "/v1/Services", "/v1/Services"),
    )

    # The writes: key lookups and item-level transactions, whatever else the tables hold.
    yield create_operation(bench, service_sid)
    yield replace_operation(bench, service_sid)
    yield delete_operation(bench, service_sid)


# -- timing -----------------------------------------------------------------------------------


@contextmanager
def stdout_discarded() -> Iterator[None]:
    """The process's stdout (Powertools' log and EMF lines) to /dev/null, at the descriptor."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


@dataclass
class Timings:
    """Milliseconds per round, by side ("handler", "bare") and clock ("wall", "cpu")."""

    samples: dict[tuple[str, str], list[float]] = field(
        default_factory=lambda: {
            (side, clock): [] for side in ("handler", "bare") for clock in ("wall", "cpu")
        }
    )

    alone: list[float] = field(default_factory=list)  # our code alone: see `alone`

    def __getitem__(self, key: tuple[str, str]) -> list[float]:
        return self.samples[key]


def run_round(round_: Round, handler_first: bool, timings: Timings | None) -> None:
    elapsed: dict[tuple[str, str], float] = {}
    answer: dict[str, Any] = {}
    answers: list[str | None] = []
    for side in ("handler", "bare") if handler_first else ("bare", "handler"):
        wall, cpu = time.perf_counter(), time.process_time()
        if side == "handler":
            answer = round_.invoke()
        else:
            answers = round_.replay.run()
        elapsed[side, "cpu"] = time.process_time() - cpu
        elapsed[side, "wall"] = time.perf_counter() - wall
    if answers != round_.replay.expected:
        raise RuntimeError(f"the replay answered {answers}, recorded {round_.replay.expected}")
    _check(round_, answer)
    if timings is not None:
        for key, seconds in elapsed.items():
            timings[key].append(seconds * 1000)


def _check(round_: Round, answer: dict[str, Any]) -> None:
    """Fail on an answer other than the operation's: no figure hides a failure."""
    if answer["statusCode"] != round_.status:
        raise RuntimeError(f"the handler answered {answer['statusCode']}: {answer['body']}")


def measure(operation: Operation, iterations: int, warmup: int, budget: float) -> Timings:
    """`iterations` rounds after `warmup`, or fewer (never under MIN_ROUNDS) where that many
    would take longer than `budget` seconds: the listings, slow on moto, are cut short."""
    started = time.perf_counter()
    for number in range(warmup):
        run_round(operation.next_round(), number % 2 == 0, None)
    per_round = (time.perf_counter() - started) / max(warmup, 1)
    rounds = max(MIN_ROUNDS, min(iterations, int(budget / per_round)))
    timings = Timings()
    for number in range(rounds):
        run_round(operation.next_round(), number % 2 == 0, timings)
    return timings


def alone(bench: Bench, operation: Operation, iterations: int) -> list[float]:
    """Milliseconds of the handler with each DynamoDB call answered at once with the recorded
    answer, no request made: our code alone (botocore's own work on a call left out)."""
    client = bench.layer_client
    ready = bench.prepared(operation.function)
    timings = []
    try:
        for _ in range(iterations):
            answers = iter([copy.deepcopy(call) for call in operation.calls])

            def answer(
                name: str, _params: dict[str, Any], answers: Iterator[Call] = answers
            ) -> Any:
                call = next(answers)
                if call.operation != name:
                    raise RuntimeError(f"{name} called where {call.operation} was recorded")
                if call.error:
                    raise ClientError(call.answer, name)
                return call.answer

            client._make_api_call = answer  # this client only; the class's method stays
            invoke = ready(copy.deepcopy(operation.recording.event))
            start = time.perf_counter()
            response = invoke()
            elapsed = time.perf_counter() - start
            if response["statusCode"] != operation.status or next(answers, None) is not None:
                raise RuntimeError(f"{operation.name} did not make the recorded calls")
            timings.append(elapsed * 1000)
    finally:
        vars(client).pop("_make_api_call", None)
    return timings


def profile(operation: Operation, iterations: int, focus: str) -> str:
    """Where the handler's time goes: first timed without a profiler, splitting each
    invocation into its DynamoDB calls (botocore's `_make_api_call`, all of it) and the rest,
    then under cProfile: the functions whose path matches `focus` by cumulative time, and
    all functions by their own time."""
    from botocore.client import BaseClient

    in_calls, invoking = 0.0, False
    make_api_call = BaseClient._make_api_call

    def timed_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal in_calls
        start = time.perf_counter()
        try:
            return make_api_call(self, *args, **kwargs)
        finally:
            if invoking:  # not the untimed setting up and cleaning up
                in_calls += time.perf_counter() - start

    total = 0.0
    BaseClient._make_api_call = timed_call
    try:
        for _ in range(iterations):
            round_ = operation.next_round()
            invoking, start = True, time.perf_counter()
            answer = round_.invoke()
            total += time.perf_counter() - start
            invoking = False
            _check(round_, answer)
    finally:
        BaseClient._make_api_call = make_api_call
    profiler = cProfile.Profile()
    for _ in range(iterations):
        round_ = operation.next_round()
        profiler.enable()
        answer = round_.invoke()
        profiler.disable()
        _check(round_, answer)
    out = io.StringIO()
    out.write(
        f"mean per invocation: {total / iterations * 1000:.3f} ms, of which DynamoDB calls "
        f"{in_calls / iterations * 1000:.3f} ms, "
        f"the rest {(total - in_calls) / iterations * 1000:.3f} ms\n"
    )
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(focus, 40)
    stats.sort_stats("tottime").print_stats(40)
    return out.getvalue()


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def summary(operation: Operation, timings: Timings) -> dict[str, Any]:
    row: dict[str, Any] = {
        "operation": operation.name,
        "function": operation.function,
        "dynamodb_calls": [
            call.operation + (f" ({call.error})" if call.error else "") for call in operation.calls
        ],
        "rounds": len(timings["handler", "wall"]),
    }
    for clock in ("wall", "cpu"):
        handler, bare = timings["handler", clock], timings["bare", clock]
        median_handler, median_bare = statistics.median(handler), statistics.median(bare)
        row[clock] = {
            "handler_median_ms": round(median_handler, 3),
            "handler_p90_ms": round(p90(handler), 3),
            "bare_median_ms": round(median_bare, 3),
            "bare_p90_ms": round(p90(bare), 3),
            "overhead_ms": round(median_handler - median_bare, 3),
            # Each round's own difference: drifts of a loaded machine cancel out within a round.
            "paired_overhead_ms": round(
                statistics.median(a - b for a, b in zip(handler, bare, strict=True)), 3
            ),
            "overhead": round((median_handler - median_bare) / median_bare, 4),
        }
    row["met"] = row["wall"]["overhead"] <= LIMIT
    ours = statistics.median(timings.alone)
    row["alone"] = {
        "median_ms": round(ours, 3),
        "p90_ms": round(p90(timings.alone), 3),
        "of_bare_wall": round(ours / row["wall"]["bare_median_ms"], 4),
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--budget", type=float, default=8.0, help="seconds of rounds per operation, at most"
    )
    parser.add_argument("--only", help="measure only operations whose name contains this")
    parser.add_argument("--profile", help="profile the handler of these operations instead")
    parser.add_argument(
        "--focus",
        default="notify_bindings|functions|powertools|pydantic",
        help="with --profile: a regex of the paths to list by cumulative time",
    )
    args = parser.parse_args()
    keep_aws_local()
    template = SamTemplate.load()
    put_layers_on_path(template)
    results: list[dict[str, Any]] = []
    with embedded_dynamodb() as endpoint:
        local = start_functions(template, endpoint)
        functions, tables = local.functions, local.tables
        from notify_bindings import dependencies
        from notify_bindings.dal.accounts import AccountStore

        layer_client = dependencies.dynamodb()
        # The functions' client without our hooks: same endpoint, same botocore Config.
        bare_client = boto3.client(
            "dynamodb", endpoint_url=endpoint, config=layer_client.meta.config
        )
        account, _ = AccountStore(layer_client, tables["AccountsTable"]).create_account("bench")
        names = Names()
        bench = Bench(template, functions, account.sid, layer_client, bare_client, names)
        log_level = os.environ.get("POWERTOOLS_LOG_LEVEL", "")
        wanted = args.profile or args.only
        with stdout_discarded():
            chosen = [op for op in operations(bench, names) if not wanted or wanted in op.name]
        if args.profile:
            for operation in chosen:
                with stdout_discarded():
                    report = profile(operation, args.iterations, args.focus)
                print(f"== {operation.name}: {args.iterations} handler invocations\n{report}")
            return
        print(
            f"warm overhead: medians of up to {args.iterations} rounds after {args.warmup} "
            f"warm-up, handler and bare boto3 alternating; log level {log_level}\n"
            "  wall: elapsed time (the target); cpu: this process's CPU time, the embedded "
            "server's included (unmoved by other processes' load); alone: the handler with "
            "DynamoDB's answers canned (our code without the calls)"
        )
        print(
            f"  {'operation':<24} {'rounds':>6} {'clock':>5} {'handler ms':>10} {'p90':>7}"
            f" {'boto3 ms':>9} {'p90':>7} {'overhead':>9} {'ms':>6}  DynamoDB calls"
        )
        for operation in chosen:
            with stdout_discarded():
                timings = measure(operation, args.iterations, args.warmup, args.budget)
                timings.alone = alone(bench, operation, args.iterations)
            row = summary(operation, timings)
            results.append(row)
            for clock in ("wall", "cpu"):
                figures = row[clock]
                first = clock == "wall"
                flag = "!" if first and not row["met"] else " "
                print(
                    f"  {row['operation'] if first else '':<24} "
                    f"{row['rounds'] if first else '':>6} {clock:>5}"
                    f" {figures['handler_median_ms']:>10.2f} {figures['handler_p90_ms']:>7.2f}"
                    f" {figures['bare_median_ms']:>9.2f} {figures['bare_p90_ms']:>7.2f}"
                    f" {figures['overhead']:>+8.1%}{flag} {figures['overhead_ms']:>+6.2f}"
                    f"  {', '.join(row['dynamodb_calls']) if first else ''}"
                )
            print(
                f"  {'':<24} {'':>6} {'alone':>5} {row['alone']['median_ms']:>10.2f}"
                f" {row['alone']['p90_ms']:>7.2f} {'':>9} {'':>7}"
                f" {row['alone']['of_bare_wall']:>+8.1%}   of the boto3 wall median"
            )
    load = os.getloadavg()
    print(f"load average over the last 1, 5, 15 minutes: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if not args.only:  # a partial run leaves the last full one's results in place
        write_results(results, args, log_level, load)


def write_results(
    results: list[dict[str, Any]],
    args: argparse.Namespace,
    level: str,
    load: tuple[float, float, float],
) -> None:
    rows = []
    for row in results:
        wall, cpu = row["wall"], row["cpu"]
        rows.append(
            {
                "target": f"warm overhead: {row['operation']}",
                "figure": (
                    f"{wall['overhead']:+.1%} ({wall['handler_median_ms']:.2f} vs "
                    f"{wall['bare_median_ms']:.2f} ms bare boto3, median elapsed; CPU time "
                    f"{cpu['overhead']:+.1%}; our code alone {row['alone']['median_ms']:.2f} ms)"
                ),
                "limit": f"<= {LIMIT:.0%} over bare boto3",
                "met": row["met"],
                "detail": (
                    f"{row['rounds']} rounds; {wall['overhead_ms']:+.2f} ms (paired "
                    f"{wall['paired_overhead_ms']:+.2f} ms); p90 {wall['handler_p90_ms']:.2f} vs "
                    f"{wall['bare_p90_ms']:.2f} ms; CPU time {cpu['overhead']:+.1%} "
                    f"({cpu['overhead_ms']:+.2f} ms); our code alone (DynamoDB answers canned) "
                    f"{row['alone']['median_ms']:.2f} ms; DynamoDB calls: "
                    f"{', '.join(row['dynamodb_calls'])}"
                ),
            }
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "title": "Warm overhead per request",
                "rows": rows,
                "notes": [
                    f"Medians of up to {args.iterations} rounds (at least {MIN_ROUNDS}, within "
                    f"{args.budget:g} s per operation) after {args.warmup} warm-up rounds: the "
                    "handler and the bare-boto3 replay of its recorded DynamoDB calls, "
                    "alternating which goes first, against the embedded moto server.",
                    f"Log level {level} (the template's default); Powertools Logger and Metrics "
                    "on as deployed, stdout to /dev/null while timing.",
                    "Both sides include the embedded server's time per call, as they would "
                    "include DynamoDB's. moto answers a listing slowly (its response serializer "
                    "spends milliseconds on each binding returned), so a listing's percentage is "
                    "smaller here than against DynamoDB: read its overhead in ms, and 'our code "
                    "alone' (the handler with DynamoDB's recorded answers canned, no request "
                    "made), next to DynamoDB's latency. 'Our code alone' runs with hot CPU "
                    "caches, one invocation after another: a lower bound; the difference in CPU "
                    "time is what it costs between real calls.",
                    "CPU time is this process's (the embedded server's included): unlike elapsed "
                    "time it does not grow when other processes take the CPU, so it shows "
                    "whether a wall-clock figure moved for noise. The verdict is on elapsed time. "
                    f"Load average when measured: {load[0]:.2f} (1 min), {load[2]:.2f} (15 min) "
                    f"on {os.cpu_count()} CPUs.",
                ],
                "operations": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
