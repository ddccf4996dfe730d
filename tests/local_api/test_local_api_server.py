"""`python -m local_api` serving a throwaway app (tests/local_api/sample_app.py) with its real
embedded moto server: routes behind a Lambda authorizer, an SQS event source, development
accounts created through the template's layer, and environment overrides."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from local_api.__main__ import main
from local_api.runtime import dynamodb_client, embedded_dynamodb, sqs_client
from local_api.template import PROJECT_ROOT
from tests.local_api.sample_app import write_sample_app

STARTUP_SECONDS = 60
# A queue's URL as moto names it in process (the functions' view of the embedded SQS).
IN_PROCESS_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/{}"
_BANNER = re.compile(
    r"notify-bindings local API on (http://127\.0\.0\.1:\d+) \(DynamoDB at (http://127\.0\.0\.1:\d+)\)"
)
# Direct to the loopback server, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

ACCOUNT_SID, AUTH_TOKEN = "AC" + secrets.token_hex(16), secrets.token_hex(16)
EXTRA_SID, EXTRA_TOKEN = "AC" + secrets.token_hex(16), secrets.token_hex(16)


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalApiProcess:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)
    base_url: str = ""
    dynamodb_url: str = ""

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        request = urllib.request.Request(
            self.base_url + path, data=body or None, method=method, headers=headers or {}
        )
        try:
            with _OPENER.open(request, timeout=30) as response:
                return Reply(response.status, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read())

    def stop(self) -> int:
        self.process.terminate()
        try:
            returncode = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            returncode = self.process.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        return returncode


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}", pytrace=False)


def start_local_api(template: Path, environment: dict[str, str]) -> LocalApiProcess:
    process = subprocess.Popen(
        [sys.executable, "-m", "local_api", "--port", "0", "--quiet", "--template", str(template)],
        cwd=PROJECT_ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    api = LocalApiProcess(process)

    def drain(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    for stream, into in ((process.stdout, api.lines), (process.stderr, api.errors)):
        reader = threading.Thread(target=drain, args=(stream, into), daemon=True)
        reader.start()
        api.readers.append(reader)
    try:
        wait_for(lambda: api.lines or process.poll() is not None, STARTUP_SECONDS, "the banner")
        match = _BANNER.fullmatch(api.lines[0]) if api.lines else None
        if match is None:
            pytest.fail("no banner; stderr:\n" + "\n".join(api.errors), pytrace=False)
    except BaseException:
        api.stop()
        raise
    api.base_url, api.dynamodb_url = match[1], match[2]
    return api


def sample_environment(records_dir: Path) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DYNAMODB_ENDPOINT_URL", "PYTHONPATH")
    }
    environment.update(
        {
            # Declared by the template: these override its values.
            "GREETING": "overridden",
            "RECORDS_DIR": str(records_dir),
            # Never: the functions stay on the local credentials, region and endpoints.
            "AWS_ACCESS_KEY_ID": "shell-key",
            "AWS_SECRET_ACCESS_KEY": "shell-secret",
            "AWS_REGION": "eu-west-3",
            "AWS_DEFAULT_REGION": "eu-west-3",
            "AWS_PROFILE": "no-such-profile",
            "NOTIFY_ACCOUNT_SID": ACCOUNT_SID,
            "NOTIFY_AUTH_TOKEN": AUTH_TOKEN,
            "NOTIFY_DEV_ACCOUNTS": f"{EXTRA_SID}:{EXTRA_TOKEN}",
        }
    )
    return environment


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="module")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_app(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def local_api(sample_template: Path, records_dir: Path) -> Iterator[LocalApiProcess]:
    api = start_local_api(sample_template, sample_environment(records_dir))
    yield api
    api.stop()


OK = {"Authorization": "Bearer ok"}


# -- the authorizer ----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
def test_given_a_request_the_authorizer_refuses_when_served_then_403_and_no_route_runs(
    local_api, headers
):
    reply = local_api.request("GET", "/echo/alice", headers=headers)

    assert reply.status == 403
    assert reply.json() == {"message": "Forbidden"}


def test_given_an_authorized_request_when_served_then_the_route_gets_the_authorizers_context(
    local_api,
):
    reply = local_api.request("GET", "/echo/alice", headers=OK)

    assert reply.status == 200
    assert reply.json()["authorizer"] == {"lambda": {"user": "ok", "routeKey": "GET /echo/{Name}"}}


def test_given_the_default_route_when_served_then_it_is_authorized_too(local_api):
    refused = local_api.request("POST", "/no/such/route")
    allowed = local_api.request("POST", "/no/such/route", headers=OK)

    assert refused.status == 403
    assert allowed.status == 200
    assert allowed.json()["routeKey"] == "$default"
    assert allowed.json()["authorizer"] == {"lambda": {"user": "ok", "routeKey": "$default"}}


def test_given_a_route_with_authorizer_none_when_served_then_no_authorizer_runs(local_api):
    reply = local_api.request("GET", "/public")

    assert reply.status == 200
    assert reply.json()["authorizer"] is None


# -- the environment ---------------------------------------------------------------------------


def environment_of_functions(local_api: LocalApiProcess) -> dict[str, str | None]:
    environment: dict[str, str | None] = local_api.request("GET", "/public").json()["environment"]
    return environment


def test_given_a_declared_variable_in_the_shell_when_served_then_it_overrides_the_template(
    local_api,
):
    assert environment_of_functions(local_api)["GREETING"] == "overridden"


def test_given_aws_credentials_in_the_shell_when_served_then_functions_keep_the_local_ones(
    local_api,
):
    environment = environment_of_functions(local_api)

    assert environment["AWS_ACCESS_KEY_ID"] == "local"
    assert environment["AWS_SECRET_ACCESS_KEY"] == "local"
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environment["AWS_PROFILE"] is None


def test_given_queue_references_when_served_then_functions_reach_the_embedded_moto_in_process(
    local_api,
):
    environment = environment_of_functions(local_api)

    # No endpoint: botocore's default ones, which the embedded moto answers in the process.
    assert environment["SQS_ENDPOINT_URL"] == environment["DYNAMODB_ENDPOINT_URL"] == ""
    assert environment["WORK_QUEUE_URL"] == IN_PROCESS_QUEUE_URL.format("WorkQueue")
    assert str(environment["DEAD_LETTER_QUEUE_ARN"]).endswith(":WorkDeadLetterQueue")
    # ... and the embedded server, from the same data
    server = sqs_client(local_api.dynamodb_url)
    assert server.get_queue_url(QueueName="WorkQueue")["QueueUrl"].startswith(
        local_api.dynamodb_url
    )


def test_given_help_when_asked_then_it_says_which_shell_variables_override_the_template(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])

    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the template declares for a function" in help_text
    assert "overrides the template's value" in help_text
    assert "AWS credentials and region never do" in help_text


def test_given_an_external_dynamodb_when_started_then_it_holds_the_data_and_sqs_stays_embedded(
    sample_template, tmp_path
):
    with embedded_dynamodb() as external:
        environment = {**sample_environment(tmp_path), "DYNAMODB_ENDPOINT_URL": external}
        api = start_local_api(sample_template, environment)
        try:
            functions = environment_of_functions(api)
            table = str(functions["ACCOUNTS_TABLE"])
            items = dynamodb_client(external).scan(TableName=table)["Items"]
        finally:
            api.stop()

    assert api.dynamodb_url == functions["DYNAMODB_ENDPOINT_URL"] == external
    assert {ACCOUNT_SID, EXTRA_SID} <= {item["Sid"]["S"] for item in items}
    assert functions["SQS_ENDPOINT_URL"] == ""  # the embedded moto, in the process
    assert functions["WORK_QUEUE_URL"] == IN_PROCESS_QUEUE_URL.format("WorkQueue")


# -- the development accounts ------------------------------------------------------------------


def test_given_accounts_in_the_environment_when_started_then_they_are_created_and_printed(
    local_api,
):
    table = environment_of_functions(local_api)["ACCOUNTS_TABLE"]
    items = dynamodb_client(local_api.dynamodb_url).scan(TableName=table)["Items"]

    stored = {item["Sid"]["S"]: item["Token"]["S"] for item in items}
    assert stored == {ACCOUNT_SID: AUTH_TOKEN, EXTRA_SID: EXTRA_TOKEN}
    assert local_api.lines[1:4] == [
        f"account {ACCOUNT_SID} auth token {AUTH_TOKEN}",
        f"account {EXTRA_SID} auth token {EXTRA_TOKEN}",
        f"try: curl -u {ACCOUNT_SID}:{AUTH_TOKEN} -X POST {local_api.base_url}/v1/Services "
        "-d FriendlyName=demo",
    ]
    assert (
        f"admin: scripts/notify-admin --endpoint-url {local_api.dynamodb_url} accounts list"
        in local_api.lines
    )


def test_given_an_account_sid_without_a_token_when_started_then_it_stops_with_a_clear_error(
    sample_template, records_dir
):
    environment = sample_environment(records_dir)
    del environment["NOTIFY_AUTH_TOKEN"]

    finished = subprocess.run(
        [sys.executable, "-m", "local_api", "--port", "0", "--template", str(sample_template)],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
        check=False,
    )

    assert finished.returncode == 2
    assert "NOTIFY_ACCOUNT_SID and NOTIFY_AUTH_TOKEN" in finished.stderr
    assert finished.stdout == ""


# -- the SQS event source ----------------------------------------------------------------------


@dataclass
class Delivery:
    records: dict[str, list[dict[str, Any]]]  # body -> the records the consumer got, in order
    queue_attributes: dict[str, str]
    dead_letters: list[dict[str, Any]]
    queue_arn: str


@pytest.fixture(scope="module")
def delivery(local_api: LocalApiProcess, records_dir: Path) -> Delivery:
    """Three messages through the enqueue route: one the consumer processes, one it fails the
    first time only, one it always fails; returned once all is settled."""
    messages = [
        {
            "MessageBody": "ok",
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "greeting"}},
        },
        {"MessageBody": "fail-once"},
        {"MessageBody": "always-fail"},
    ]
    reply = local_api.request(
        "POST",
        "/enqueue",
        headers={**OK, "Content-Type": "application/json"},
        body=json.dumps(messages).encode(),
    )
    assert reply.status == 202
    sqs = sqs_client(local_api.dynamodb_url)
    environment = environment_of_functions(local_api)

    def records() -> dict[str, list[dict[str, Any]]]:
        path = records_dir / "records.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        got: dict[str, list[dict[str, Any]]] = {}
        for record in map(json.loads, lines):
            got.setdefault(record["body"], []).append(record)
        return got

    def dead_letters() -> list[dict[str, Any]]:
        received = sqs.receive_message(
            QueueUrl=environment["DEAD_LETTER_QUEUE_URL"], MaxNumberOfMessages=10
        )
        return list(received.get("Messages", []))

    # Receive 1: all three; receive 2 after the 1 s visibility timeout: the two that failed;
    # receive 3: "always-fail", received twice already, goes to the dead-letter queue.
    letters = wait_for(dead_letters, 20, "a message in the dead-letter queue")
    time.sleep(2.5)  # more than two visibility timeouts: time for any wrong redelivery
    attributes = sqs.get_queue_attributes(
        QueueUrl=environment["WORK_QUEUE_URL"], AttributeNames=["All"]
    )["Attributes"]
    return Delivery(records(), attributes, letters, attributes["QueueArn"])


def test_given_a_processed_message_when_delivered_then_once_and_then_deleted(delivery):
    assert len(delivery.records["ok"]) == 1
    assert delivery.queue_attributes["ApproximateNumberOfMessages"] == "0"
    assert delivery.queue_attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_given_a_record_failed_in_batch_item_failures_when_polled_then_it_comes_back_once(
    delivery,
):
    fail_once = delivery.records["fail-once"]

    assert [record["attributes"]["ApproximateReceiveCount"] for record in fail_once] == ["1", "2"]
    assert fail_once[0]["messageId"] == fail_once[1]["messageId"]


def test_given_a_record_that_always_fails_when_received_max_times_then_it_is_dead_lettered(
    delivery,
):
    assert len(delivery.records["always-fail"]) == 2  # maxReceiveCount
    assert [letter["Body"] for letter in delivery.dead_letters] == ["always-fail"]


def test_given_a_batch_when_delivered_then_records_have_lambdas_sqs_shape(delivery):
    (record,) = delivery.records["ok"]

    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "greeting",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert record["md5OfBody"] == hashlib.md5(b"ok").hexdigest()
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == delivery.queue_arn
    assert record["awsRegion"] == "us-east-1"


# -- stopping ----------------------------------------------------------------------------------


def test_given_a_running_local_api_when_terminated_then_it_stops_cleanly(sample_template, tmp_path):
    api = start_local_api(sample_template, sample_environment(tmp_path))

    returncode = api.stop()

    assert returncode == 0
    assert not [line for line in api.errors if "Traceback" in line]
