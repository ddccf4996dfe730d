"""Peak memory of a warm function process, and the size of the built layer.

Memory: for every function of template.yaml, a child process loads the function as Lambda
would (the layer on PYTHONPATH, its CodeUri as working directory, `import app`) and invokes
its handler N times (200 by default) with realistic events, then reports its peak resident set
size (resource.getrusage(RUSAGE_SELF).ru_maxrss, KiB on Linux, shown in MiB - Lambda's "MB";
the kernel's VmHWM beside it). Target: <= 100 MB, so that a 128 MB function works. The child
imports nothing but the handler, json (to read its events from stdin) and resource: no test
tool, no moto. A shell starts it: Linux carries a process's ru_maxrss over fork and exec, so
a child of this (larger) process would report this one's peak.

The delivering function (DeliverNotificationsFunction) is measured warm with its connection
pool full, target <= 128 MB (issue 18): its child loads the handler, builds what its first
request builds, then sends --invocations / 20 batches of 100 recipients to each of the APNs,
FCM and Twilio stand-ins (in a process of their own) from 8 threads, through the senders the
handler uses, so that every APNs connection of its pool (APNS_CONNECTIONS) is open. The
batches' DynamoDB records are not written: its events would need the whole sending pipeline.

Its DynamoDB and SQS are the local API's embedded moto server, in a separate process (so that
its memory is not counted) on a free loopback port, with the template's tables and queues.
This process seeds what the events refer to through the template's functions (an account, a
Service, Services, bindings and Credentials to delete, a Credential and a Notification to
fetch), the purge function gets the very messages the delete-Service function sent, and the
resolving function the resolution tasks the create-Notification function sent. Every
invocation must succeed (no 5xx); the outcomes are shown.

Layer size: when `sam build` has built .aws-sam/build/BindingsLayer, its size unzipped and
zipped (deflate, in a temporary file), noting when its notify_bindings differs from the
source; when there is none, or it is stale, an equivalent directory is built by the layer's
Makefile (as `sam build` runs it), for manylinux2014_aarch64 / cp313 as the template's arm64
python3.13 layer, else for this platform (which the figures then say), compiled by this Python.
That asks the package index (pip's cache spares repeated downloads); --no-layer-build skips it.

Run: .venv/bin/python -m bench.memory [--invocations 200] [--function CreateBindingFunction ...]
     [--no-layer-build]
Writes bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import base64
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.layer_build import LAMBDA_WHEELS, LayerBuildFailed
from bench.layer_build import build_layer as build_layer_with_makefile
from bench.local_functions import Started, start_functions
from local_api.events import authorizer_event as authorizer_request
from local_api.events import http_api_event, sqs_event, with_authorizer_context
from local_api.runtime import (
    LocalFunctions,
    dynamodb_client,
    keep_aws_local,
    put_layers_on_path,
    sqs_client,
    streams_client,
)
from local_api.template import PROJECT_ROOT, Function, Route, SamTemplate

RESULTS = Path(__file__).resolve().parent / "results" / "memory.json"
LIMIT_MB = 100.0
# The delivering function (issue 18): warm, with its connection pool full.
DELIVERING = "DeliverNotificationsFunction"
DELIVERING_LIMIT_MB = 128.0
BUILT_LAYER = PROJECT_ROOT / ".aws-sam" / "build" / "BindingsLayer"
LAYER_SOURCE = PROJECT_ROOT / "layers" / "notify_bindings"
PACKAGE = "notify_bindings"
PYTHON_VERSION = "{}.{}".format(*sys.version_info[:2])
_MARKER = "MEMORY-RESULT "

# The embedded moto server, in a process of its own: prints its endpoint, serves until stdin
# closes.
_SERVER = """
import sys
from local_api.runtime import embedded_dynamodb
with embedded_dynamodb() as endpoint:
    print(endpoint, flush=True)
    sys.stdin.read()
"""

# The function's process: read the events, load the handler, invoke it, report its peak RSS
# (MiB) as getrusage has it, and as the kernel's high-water mark of this process image.
_CHILD = """
import json, resource, sys, time, uuid

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def high_water_mb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None

events = json.loads(sys.stdin.read())
before_import = peak_mb()


class Context:
    function_name = {name!r}
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:" + function_name
    memory_limit_in_mb = {memory}
    log_group_name = log_stream_name = ""

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + {timeout}

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


import {module}
handler = {module}.{attribute}
after_init = peak_mb()
outcomes = {{}}
for number in range({invocations}):
    answer = handler(events[number % len(events)], Context())
    if "statusCode" in answer:
        outcome = str(answer["statusCode"])
    elif "isAuthorized" in answer:
        outcome = "account" if answer.get("context", {{}}).get("accountSid") else "no account"
    else:
        outcome = "%d batch item failures" % len(answer.get("batchItemFailures", []))
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if number == 0:
        after_first = peak_mb()
print({marker!r} + json.dumps({{
    "before_import_mb": before_import,
    "after_init_mb": after_init,
    "after_first_mb": after_first,
    "peak_mb": peak_mb(),
    "high_water_mb": high_water_mb(),
    "outcomes": outcomes,
}}))
"""


# The delivering function's process, warm and with its connection pool full: load the handler
# as Lambda does, build what its first request builds (settings, the DynamoDB client, the
# senders and the callbacks' poster), then send batches of 100 recipients to each stand-in
# from 8 threads through the very `Senders` the handler uses (dependencies.sender()), so that
# every APNs connection of the pool is open; then report the peak RSS as above.
_DELIVERING_CHILD = """
import json, resource, sys, threading
from datetime import UTC, datetime

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def high_water_mb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None

setup = json.loads(sys.stdin.read())
before_import = peak_mb()
import {module}
from notify_bindings import dependencies
dependencies.settings()
dependencies.dynamodb()
sender = dependencies.sender()
dependencies.callback_reporter()
after_init = peak_mb()

from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import Notification, Recipient
from notify_bindings.domain.services import Service
from notify_bindings.providers.credentials import (
    parse_apns_token_key, parse_service_account, parse_twilio_account,
)
moment = datetime.now(UTC)
service = Service("IS" + "1" * 32, setup["account_sid"], moment, moment,
                  messaging_service_sid="MG" + "7" * 32)
notification = Notification("NT" + "0" * 32, setup["account_sid"], service.sid, moment,
                            title="Hello", body="A notification of a few words, as most are",
                            data={{"order": "12345"}})
apns_key = parse_apns_token_key(setup["apns_key"], key_id=setup["apns_key_id"],
                                team_id=setup["apns_team_id"], topic=setup["apns_topic"])
account = parse_service_account(setup["service_account"])
twilio = parse_twilio_account(setup["account_sid"], auth_token=setup["auth_token"])
channels = [
    (BindingType.APN, lambda n: "%064x" % n, apns_key),
    (BindingType.FCM, lambda n: "registration-%d" % n, account),
    (BindingType.SMS, lambda n: "+1202555%04d" % (n % 10000), twilio),
]
statuses = {{}}
lock = threading.Lock()

def share(kind, address, credential, first, batch):
    for n in range(first, 100, 8):
        recipient = Recipient(kind, address(batch * 100 + n), None, "CR" + "3" * 32)
        delivery = sender.send(notification, service, recipient, credential)
        with lock:
            statuses[delivery.status.value] = statuses.get(delivery.status.value, 0) + 1

for batch in range({batches}):
    for kind, address, credential in channels:
        arguments = [(kind, address, credential, first, batch) for first in range(8)]
        workers = [threading.Thread(target=share, args=each) for each in arguments]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    if batch == 0:
        after_first = peak_mb()
print({marker!r} + json.dumps({{
    "before_import_mb": before_import,
    "after_init_mb": after_init,
    "after_first_mb": after_first,
    "peak_mb": peak_mb(),
    "high_water_mb": high_water_mb(),
    "outcomes": statuses,
    "apns_connections": sender.apns_connections_open(),
}}))
"""


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Nothing written to this process's standard output (the functions' logs and metrics,
    while they seed) reaches it."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def moto_server() -> Iterator[str]:
    """The local API's embedded moto server in a separate process; yields its endpoint."""
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        if not endpoint.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the moto server did not start: {endpoint!r}")
        yield endpoint
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class NoEvents(LookupError):
    """A function the bench does not know how to invoke yet."""


class FunctionFailed(RuntimeError):
    """A function's process failed, or answered a 5xx: its figure would mean nothing."""


class Scenario:
    """The events each function is invoked with, and what they refer to, seeded through the
    template's functions in this process."""

    def __init__(self, template: SamTemplate, local: Started, count: int) -> None:
        from notify_bindings import dependencies
        from notify_bindings.dal.accounts import AccountStore

        self.template = template
        self.functions = local.functions
        self.tables = local.tables
        self.queues = local.queues
        self.count = count
        (purge,) = template.functions["PurgeServiceFunction"].sqs_sources
        self.queue = local.queues[purge.queue]
        self.routes = {route.route_key: route for route in template.routes}
        settings = dependencies.settings()
        account, token = AccountStore(
            dependencies.dynamodb(), settings.accounts_table or ""
        ).create_account("memory bench")
        self.account_sid = account.sid
        self.credentials = base64.b64encode(f"{account.sid}:{token}".encode()).decode()
        self.service = self._create_service("kept")
        self.binding = self._create_binding(self.service, "kept", count)
        self.doomed_services = [self._create_service(f"doomed {n}") for n in range(count)]
        doomed_bindings = self._create_service("doomed bindings")
        self.doomed_bindings = [
            (doomed_bindings, self._create_binding(doomed_bindings, f"user{n}", n))
            for n in range(count)
        ]
        self.doomed_users = self._create_service("doomed users")
        for n in range(count):
            self._create_binding(self.doomed_users, f"user{n}", n)
        self.expiring = self._create_service("expiring")
        for n in range(count):
            self._create_binding(self.expiring, f"user{n}", n)
        self.credential = self._create_credential("kept")
        self.doomed_credentials = [self._create_credential(f"doomed {n}") for n in range(count)]
        self.notification = self._create_notification("kept")

    def events(self, function: str) -> list[dict[str, Any]]:
        """The events for `function`, built when it is its turn (the purge's messages exist
        only once the Services have been deleted)."""
        service_path = f"/v1/Services/{self.service}"
        bindings_path = f"{service_path}/Bindings"
        makers: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "AuthorizerFunction": lambda: [
                authorizer_request(
                    http_api_event(
                        self.routes["GET /v1/Services/{Sid}"],
                        service_path,
                        headers={"Authorization": f"Basic {self.credentials}"},
                    )
                )
            ],
            "CreateServiceFunction": lambda: [
                self._request("POST /v1/Services", "/v1/Services", {"FriendlyName": f"new {n}"})
                for n in range(self.count)
            ],
            "ListServicesFunction": lambda: [self._request("GET /v1/Services", "/v1/Services")],
            "FetchServiceFunction": lambda: [self._request("GET /v1/Services/{Sid}", service_path)],
            "UpdateServiceFunction": lambda: [
                self._request("POST /v1/Services/{Sid}", service_path, {"FriendlyName": f"v{n}"})
                for n in range(self.count)
            ],
            "DeleteServiceFunction": lambda: [
                self._request("DELETE /v1/Services/{Sid}", f"/v1/Services/{sid}")
                for sid in self.doomed_services
            ],
            "PurgeServiceFunction": self._purge_events,
            "CreateBindingFunction": lambda: [
                self._request(
                    "POST /v1/Services/{ServiceSid}/Bindings",
                    bindings_path,
                    {
                        "Identity": f"identity-{n}",
                        "BindingType": "fcm",
                        "Address": f"token-{n}",
                        "Tag": ["bench", f"tag-{n % 7}"],
                    },
                )
                for n in range(self.count)
            ],
            "FetchBindingFunction": lambda: [
                self._request(
                    "GET /v1/Services/{ServiceSid}/Bindings/{Sid}",
                    f"{bindings_path}/{self.binding}",
                )
            ],
            "ListBindingsFunction": lambda: [
                self._request("GET /v1/Services/{ServiceSid}/Bindings", bindings_path),
                self._request(
                    "GET /v1/Services/{ServiceSid}/Bindings", bindings_path, query={"Tag": "bench"}
                ),
                self._request(
                    "GET /v1/Services/{ServiceSid}/Bindings",
                    bindings_path,
                    query={"Identity": "identity-1"},
                ),
            ],
            "DeleteBindingFunction": lambda: [
                self._request(
                    "DELETE /v1/Services/{ServiceSid}/Bindings/{Sid}",
                    f"/v1/Services/{service}/Bindings/{sid}",
                )
                for service, sid in self.doomed_bindings
            ],
            "FetchUserFunction": lambda: [
                self._request(
                    "GET /v1/Services/{ServiceSid}/Users/{Identity}", f"{service_path}/Users/kept"
                )
            ],
            "ListUsersFunction": lambda: [
                self._request("GET /v1/Services/{ServiceSid}/Users", f"{service_path}/Users")
            ],
            "ListUserBindingsFunction": lambda: [
                self._request(
                    "GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings",
                    f"{service_path}/Users/kept/Bindings",
                )
            ],
            "DeleteUserFunction": lambda: [
                self._request(
                    "DELETE /v1/Services/{ServiceSid}/Users/{Identity}",
                    f"/v1/Services/{self.doomed_users}/Users/user{n}",
                )
                for n in range(self.count)
            ],
            "UnmatchedRouteFunction": lambda: [
                self._request("$default", "/v1/Services/Nowhere/Else", method="GET")
            ],
            # Dead tokens: addresses that no binding holds (the lookup and the answer all the
            # same; a report that deletes is DeleteBindingFunction's write).
            "ReportDeadTokenFunction": lambda: [
                self._request(
                    "POST /v1/Services/{ServiceSid}/DeadTokens",
                    f"{service_path}/DeadTokens",
                    {"Address": f"gone-{n}", "Reason": "unregistered"},
                )
                for n in range(self.count)
            ],
            "ReportDeadTokensFunction": self._dead_token_events,
            "CreateCredentialFunction": lambda: [
                self._request(
                    "POST /v1/Credentials", "/v1/Credentials", _sms_credential(f"new {n}")
                )
                for n in range(self.count)
            ],
            "ListCredentialsFunction": lambda: [
                self._request("GET /v1/Credentials", "/v1/Credentials")
            ],
            "FetchCredentialFunction": lambda: [
                self._request("GET /v1/Credentials/{Sid}", f"/v1/Credentials/{self.credential}")
            ],
            "UpdateCredentialFunction": lambda: [
                self._request(
                    "POST /v1/Credentials/{Sid}",
                    f"/v1/Credentials/{self.credential}",
                    {"FriendlyName": f"v{n}"},
                )
                for n in range(self.count)
            ],
            "DeleteCredentialFunction": lambda: [
                self._request("DELETE /v1/Credentials/{Sid}", f"/v1/Credentials/{sid}")
                for sid in self.doomed_credentials
            ],
            "CreateNotificationFunction": lambda: [
                self._request(
                    "POST /v1/Services/{ServiceSid}/Notifications",
                    f"{service_path}/Notifications",
                    {"Identity": "kept", "Body": f"Notification {n}"},
                )
                for n in range(self.count)
            ],
            "FetchNotificationFunction": lambda: [
                self._request(
                    "GET /v1/Services/{ServiceSid}/Notifications/{Sid}",
                    f"{service_path}/Notifications/{self.notification}",
                )
            ],
            "ResolveNotificationFunction": self._resolve_events,
            "PublishChangesFunction": self._change_events,
            "ForgetExpiredFunction": self._expired_events,
        }
        if function not in makers:
            raise NoEvents(f"bench/memory.py has no events for {function}")
        return makers[function]()

    def _request(
        self,
        route_key: str,
        path: str,
        form: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, Any] | None = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Host": "127.0.0.1"}
        body = urlencode(form or {}, doseq=True).encode()
        if form:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        route: Route = self.routes[route_key]
        event = http_api_event(
            route,
            path,
            method=method,
            query=urlencode(query or {}, doseq=True),
            headers=headers,
            body=body,
        )
        return with_authorizer_context(event, {"accountSid": self.account_sid})

    def _invoke(self, function: str, event: dict[str, Any], status: int) -> dict[str, Any]:
        answer = self.functions.invoke(function, event)
        if answer["statusCode"] != status:
            raise RuntimeError(f"seeding: {function} answered {answer}")
        body: dict[str, Any] = json.loads(answer["body"])
        return body

    def _create_service(self, name: str) -> str:
        event = self._request("POST /v1/Services", "/v1/Services", {"FriendlyName": name})
        return str(self._invoke("CreateServiceFunction", event, 201)["sid"])

    def _create_binding(self, service: str, identity: str, number: int) -> str:
        event = self._request(
            "POST /v1/Services/{ServiceSid}/Bindings",
            f"/v1/Services/{service}/Bindings",
            {"Identity": identity, "BindingType": "sms", "Address": f"+1555{number:07d}"},
        )
        return str(self._invoke("CreateBindingFunction", event, 201)["sid"])

    def _create_credential(self, name: str) -> str:
        event = self._request("POST /v1/Credentials", "/v1/Credentials", _sms_credential(name))
        return str(self._invoke("CreateCredentialFunction", event, 201)["sid"])

    def _create_notification(self, body: str) -> str:
        event = self._request(
            "POST /v1/Services/{ServiceSid}/Notifications",
            f"/v1/Services/{self.service}/Notifications",
            {"Identity": "kept", "Body": body},
        )
        return str(self._invoke("CreateNotificationFunction", event, 201)["sid"])

    def _resolve_events(self) -> list[dict[str, Any]]:
        """The resolve queue's messages: the resolution tasks the create-Notification function
        sent (the seeded one's and, when it ran first, those of its invocations), received in
        its source's batches."""
        (source,) = self.template.functions["ResolveNotificationFunction"].sqs_sources
        events = self._received_events(self.queues[source.queue], source.batch_size)
        if not events:
            raise RuntimeError("no resolution task in the resolve queue: nothing was seeded")
        return events

    def _dead_token_events(self) -> list[dict[str, Any]]:
        """The dead-token queue's messages, sent to it and received in its source's batches."""
        (source,) = self.template.functions["ReportDeadTokensFunction"].sqs_sources
        queue = self.queues[source.queue]
        sqs = sqs_client(self.functions.environment["SQS_ENDPOINT_URL"])
        for n in range(self.count):
            body = {
                "account_sid": self.account_sid,
                "service_sid": self.service,
                "address": f"gone-{n}",
                "reason": "invalid",
            }
            sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(body))
        return self._received_events(queue, source.batch_size)

    def _change_events(self) -> list[dict[str, Any]]:
        """The first batch of the bindings table's stream (the seeding wrote it), as its event
        source mapping delivers it: the one event every invocation gets (publishing it again is
        the same work; copies of it would only swell the process that reads them)."""
        from local_api.stream_sources import stream_pollers

        endpoint = self.functions.environment["SQS_ENDPOINT_URL"]
        (poller,) = [
            poller
            for poller in stream_pollers(
                self.functions,
                self.tables,
                dynamodb_client(endpoint),
                streams_client(endpoint),
                None,
            )
            if poller.function == "PublishChangesFunction"
        ]
        batch = poller.next_batch()
        if batch is None:
            raise RuntimeError("the bindings table's stream is empty: nothing was seeded")
        return [batch]

    def _expired_events(self) -> list[dict[str, Any]]:
        """One stream batch of DynamoDB TTL's deletes of the expiring Service's bindings, as
        the clean-up's event source delivers them (the first invocation cleans up; the same
        batch again finds nothing left, as a redelivery does)."""
        endpoint = self.functions.environment["SQS_ENDPOINT_URL"]
        items = dynamodb_client(endpoint).query(
            TableName=self.tables["BindingsTable"],
            KeyConditionExpression="ServiceSid = :service",
            ExpressionAttributeValues={":service": {"S": self.expiring}},
        )["Items"]
        records = [
            {
                "eventID": f"{n:032x}",
                "eventName": "REMOVE",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": int(time.time()),
                    "Keys": {"ServiceSid": item["ServiceSid"], "Address": item["Address"]},
                    "OldImage": item,
                    "SequenceNumber": str(10**20 + n),
                    "SizeBytes": 400,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            }
            for n, item in enumerate(items)
        ]
        return [{"Records": records}]

    def _purge_events(self) -> list[dict[str, Any]]:
        """One event per purge message in the queue (the template's BatchSize is 1)."""
        events = self._received_events(self.queue, 1)
        if not events:
            raise RuntimeError("no purge message in the queue: run DeleteServiceFunction first")
        return events

    def _received_events(self, queue: Any, batch_size: int) -> list[dict[str, Any]]:
        """Every message in `queue`, received (and hidden for 10 minutes) in events of up to
        `batch_size` messages, as its event source delivers them."""
        sqs = sqs_client(self.functions.environment["SQS_ENDPOINT_URL"])
        messages: list[dict[str, Any]] = []
        while received := sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", []):
            messages += received
        return [
            sqs_event(messages[n : n + batch_size], queue.arn)
            for n in range(0, len(messages), batch_size)
        ]


def _sms_credential(name: str) -> dict[str, str]:
    """The simplest valid create form of a Credential: Twilio's Messages API (an Account SID
    and its auth token)."""
    return {"Type": "sms", "FriendlyName": name, "ApiKey": "AC" + "a" * 32, "Secret": "b" * 32}


def measure_function(
    function: Function, events: Sequence[dict[str, Any]], invocations: int, environment: Any
) -> dict[str, Any]:
    module, attribute = function.handler.rsplit(".", 1)
    code = _CHILD.format(
        name=function.logical_id,
        memory=function.memory,
        timeout=function.timeout,
        module=module,
        attribute=attribute,
        invocations=invocations,
        marker=_MARKER,
    )
    # Started by a shell that forks it: a process started by this one directly would inherit
    # this one's peak RSS in its ru_maxrss (Linux keeps it across fork and exec).
    finished = subprocess.run(
        ["sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-c", code],
        cwd=function.code_dir,
        env={
            **environment,
            "PYTHONPATH": os.pathsep.join(str(layer) for layer in function.layer_dirs),
        },
        input=json.dumps(list(events)),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    results = [line for line in finished.stdout.splitlines() if line.startswith(_MARKER)]
    if finished.returncode != 0 or not results:
        raise FunctionFailed(f"{function.logical_id} failed:\n{finished.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(results[-1].removeprefix(_MARKER))
    failed = {outcome for outcome in figures["outcomes"] if outcome.startswith("5")}
    if failed:
        raise FunctionFailed(f"{function.logical_id} answered {figures['outcomes']}")
    figures["events"] = len(events)
    figures["invocations"] = invocations
    return figures


def measure_delivering(
    function: Function, batches: int, environment: Mapping[str, str]
) -> dict[str, Any]:
    """The delivering function warm with its connection pool full: `batches` batches of 100
    recipients to each stand-in (which run in a process of their own)."""
    from bench.delivery_throughput import ACCOUNT_SID, AUTH_TOKEN, standins_process

    module = function.handler.rsplit(".", 1)[0]
    code = _DELIVERING_CHILD.format(module=module, batches=batches, marker=_MARKER)
    with standins_process() as standins:
        setup = {
            **{name: getattr(standins, name) for name in ("apns_key", "service_account")},
            **{name: getattr(standins, name) for name in ("apns_key_id", "apns_team_id")},
            "apns_topic": standins.apns_topic,
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
        }
        finished = subprocess.run(
            ["sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-c", code],
            cwd=function.code_dir,
            env={
                **environment,
                **standins.settings,
                "PYTHONPATH": os.pathsep.join(str(layer) for layer in function.layer_dirs),
            },
            input=json.dumps(setup),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    results = [line for line in finished.stdout.splitlines() if line.startswith(_MARKER)]
    if finished.returncode != 0 or not results:
        raise FunctionFailed(f"{function.logical_id} failed:\n{finished.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(results[-1].removeprefix(_MARKER))
    if set(figures["outcomes"]) != {"SENT"}:
        raise FunctionFailed(f"{function.logical_id} delivered {figures['outcomes']}")
    figures["batches"] = batches
    return figures


def delivering_row(function: Function, invocations: int, environment: Any) -> dict[str, Any]:
    """The delivering function's row, printed as the others are; `invocations` / 20 batches of
    100 recipients per channel (10 by default)."""
    target = f"warm {DELIVERING} peak RSS with its connection pool"
    limit = f"<= {DELIVERING_LIMIT_MB:.0f} MB"
    batches = max(1, invocations // 20)
    try:
        result = measure_delivering(function, batches, environment)
    except FunctionFailed as error:
        print(f"{function.logical_id:<26} not measured: {error}")
        return {
            "target": target,
            "figure": "not measured",
            "limit": limit,
            "met": False,
            "detail": str(error)[-1000:],
        }
    met = result["peak_mb"] <= DELIVERING_LIMIT_MB
    sent = sum(result["outcomes"].values())
    print(
        f"{function.logical_id:<26} {result['before_import_mb']:>6.1f} "
        f"{result['after_init_mb']:>6.1f} {result['after_first_mb']:>6.1f} "
        f"{result['peak_mb']:>6.1f} {result['high_water_mb'] or 0:>6.1f}  "
        f"{'yes' if met else 'NO ':<3}  {sent} sent, {result['apns_connections']} APNs connections"
    )
    return {
        "target": target,
        "figure": f"{result['peak_mb']:.1f} MB",
        "limit": limit,
        "met": met,
        "detail": (
            f"{batches} batches of 100 recipients to each of the APNs, FCM and Twilio stand-ins "
            f"from 8 threads through dependencies.sender() ({sent} sent; "
            f"{result['apns_connections']} APNs HTTP/2 connections open, the pool full); "
            f"{result['after_init_mb']:.1f} MB after init (the handler, settings, DynamoDB "
            f"client, senders and callbacks' poster built), {result['after_first_mb']:.1f} MB "
            f"after the first batches; VmHWM {result['high_water_mb'] or 0:.1f} MB. The batches' "
            "DynamoDB records are not written (their memory is that of the other functions' "
            "clients)."
        ),
        "figures": result,
    }


def child_environment(functions: LocalFunctions) -> dict[str, str]:
    """This process's environment (made local) with the functions' resolved environment, the
    same for every function as under the local API; no PYTHON* variable of this shell."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("PYTHON")
    }
    environment.update(functions.environment)
    return environment


# --- layer size ---------------------------------------------------------------------------


def tree_size(root: Path) -> tuple[int, int]:
    """Bytes of every file under `root` (apparent size) and how many files."""
    files = [path for path in root.rglob("*") if path.is_file()]
    return sum(path.stat().st_size for path in files), len(files)


def zipped_size(root: Path) -> int:
    """Bytes of `root`'s files zipped with deflate, as the layer is uploaded."""
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zipped.write(path, path.relative_to(root))
        return archive.stat().st_size


def package_differs(built: Path) -> list[str]:
    """The modules of notify_bindings whose built copy differs from the source (or is missing
    on either side)."""
    source = LAYER_SOURCE / PACKAGE
    comparison = filecmp.dircmp(source, built, ignore=["__pycache__"])
    return sorted(
        [
            *comparison.left_only,
            *comparison.right_only,
            *comparison.diff_files,
            *comparison.funny_files,
        ]
    )


def build_layer(target: Path) -> tuple[bool, str]:
    """An equivalent of `sam build`'s layer in `target` (python/...), by the layer's Makefile:
    with the template's wheels (arm64, cp313) if pip can fetch them, else this platform's.
    True if arm64."""
    errors = ""
    for wheels, arm64 in ((LAMBDA_WHEELS, True), ("", False)):
        shutil.rmtree(target / "python", ignore_errors=True)
        try:
            build_layer_with_makefile(target, wheels=wheels)
        except LayerBuildFailed as failed:
            errors += f"{failed}\n"
            continue
        how = "manylinux2014_aarch64 cp313 wheels" if arm64 else "this platform's wheels"
        return arm64, f"the layer's Makefile ({how}, byte-code of Python {PYTHON_VERSION})"
    raise RuntimeError(f"pip could not build the layer:\n{errors}")


def layer_sizes(build: bool) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    rows: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    notes: list[str] = []
    stale: list[str] = []
    if BUILT_LAYER.is_dir():
        size, files = tree_size(BUILT_LAYER)
        zipped = zipped_size(BUILT_LAYER)
        built_package = BUILT_LAYER / "python" / PACKAGE
        stale = package_differs(built_package) if built_package.is_dir() else [PACKAGE]
        state = f"stale: {', '.join(stale)} differ from the source" if stale else "current"
        figures["sam_build"] = {"bytes": size, "files": files, "zipped_bytes": zipped}
        rows.append(
            _size_row("layer size, sam build (.aws-sam/build/BindingsLayer)", size, zipped, state)
        )
        print(f"sam build's layer: {_sizes(size, files, zipped)} ({state})")
    if build and (stale or not BUILT_LAYER.is_dir()):
        with tempfile.TemporaryDirectory() as scratch:
            arm64, how = build_layer(Path(scratch))
            size, files = tree_size(Path(scratch))
            zipped = zipped_size(Path(scratch))
        figures["pip_equivalent"] = {
            "bytes": size,
            "files": files,
            "zipped_bytes": zipped,
            "arm64": arm64,
            "how": how,
        }
        rows.append(_size_row("layer size, built from the pins", size, zipped, how))
        print(f"layer built from the pins ({how}): {_sizes(size, files, zipped)}")
        if not arm64:
            notes.append(
                "The layer was built with this platform's wheels (pip could not fetch the "
                "arm64 ones): compiled packages differ in size a little from the deployed layer."
            )
    elif not BUILT_LAYER.is_dir():
        notes.append("No layer size: no sam build, and --no-layer-build.")
    return rows, figures, notes


def _sizes(size: int, files: int, zipped: int) -> str:
    return f"{size / 2**20:.1f} MiB in {files} files, zipped {zipped / 2**20:.1f} MiB"


def _size_row(target: str, size: int, zipped: int, detail: str) -> dict[str, Any]:
    return {
        "target": target,
        "figure": f"{size / 2**20:.1f} MiB unzipped, {zipped / 2**20:.1f} MiB zipped",
        "limit": "reported (Lambda: 250 MB unzipped with the functions, 50 MB zipped upload)",
        "met": size <= 250 * 2**20 and zipped <= 50 * 2**20,
        "detail": detail,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invocations", type=int, default=200)
    parser.add_argument("--function", action="append", help="only this function (repeatable)")
    parser.add_argument("--no-layer-build", action="store_true", help="never run pip")
    args = parser.parse_args()
    keep_aws_local()
    template = SamTemplate.load()
    names = args.function or list(template.functions)
    unknown = set(names) - set(template.functions)
    if unknown:
        raise SystemExit(f"not functions of template.yaml: {', '.join(sorted(unknown))}")
    if "PurgeServiceFunction" in names and "DeleteServiceFunction" not in names:
        names.append("DeleteServiceFunction")  # sends the messages the purge processes
    names.sort(key=lambda name: name == "PurgeServiceFunction")
    seeded = max(args.invocations, 1)

    rows: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    put_layers_on_path(template)
    with moto_server() as endpoint:
        local = start_functions(template, endpoint)
        functions = local.functions
        print(f"seeding {seeded} Services, bindings and Credentials to delete...", file=sys.stderr)
        with quiet_stdout():
            scenario = Scenario(template, local, seeded)
        environment = child_environment(functions)
        print(
            f"\npeak RSS of a function process after {args.invocations} invocations (MiB)\n"
            f"{'function':<26} {'start':>6} {'init':>6} {'first':>6} {'peak':>6} {'VmHWM':>6}  "
            "met  outcomes"
        )
        for name in names:
            if name == DELIVERING:
                rows.append(delivering_row(template.functions[name], args.invocations, environment))
                figures[name] = rows[-1].pop("figures", None)
                continue
            try:
                result = measure_function(
                    template.functions[name], scenario.events(name), args.invocations, environment
                )
            except (NoEvents, FunctionFailed) as error:
                print(f"{name:<26} not measured: {error}")
                rows.append(
                    {
                        "target": f"peak RSS: {name}",
                        "figure": "not measured",
                        "limit": f"<= {LIMIT_MB:.0f} MB",
                        "met": False,
                        "detail": str(error)[-1000:],
                    }
                )
                continue
            met = result["peak_mb"] <= LIMIT_MB
            outcomes = ", ".join(f"{k} x{v}" for k, v in sorted(result["outcomes"].items()))
            print(
                f"{name:<26} {result['before_import_mb']:>6.1f} {result['after_init_mb']:>6.1f} "
                f"{result['after_first_mb']:>6.1f} {result['peak_mb']:>6.1f} "
                f"{result['high_water_mb'] or 0:>6.1f}  {'yes' if met else 'NO ':<3}  {outcomes}"
            )
            figures[name] = result
            rows.append(
                {
                    "target": f"peak RSS: {name}",
                    "figure": f"{result['peak_mb']:.1f} MB",
                    "limit": f"<= {LIMIT_MB:.0f} MB",
                    "met": met,
                    "detail": (
                        f"{args.invocations} invocations of {result['events']} distinct events "
                        f"({outcomes}); {result['before_import_mb']:.1f} MB before the import, "
                        f"{result['after_init_mb']:.1f} MB after init, "
                        f"{result['after_first_mb']:.1f} MB after the first invocation"
                    ),
                }
            )

    print()
    size_rows, sizes, size_notes = layer_sizes(build=not args.no_layer_build)
    rows += size_rows
    notes = [
        f"Python {sys.version.split()[0]}; memory is ru_maxrss of the "
        "function's own process (KiB on Linux, shown in MiB); the moto server runs in another.",
        "The process holds the interpreter, the handler and its imports, its events (read "
        "from stdin before the import) and nothing else; Lambda's runtime client adds its own "
        "few MB on AWS.",
        "Every function gets the same resolved environment, as under the local API.",
        *size_notes,
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "title": "Memory of a warm function process, and the layer's size",
                "rows": rows,
                "notes": notes,
                "invocations": args.invocations,
                "functions": figures,
                "layer": sizes,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
