"""`make invoke FN=<Function> EVENT=events/<file>.json`, run as a developer runs it: against a
`make run` in another process (found through the state it records), or, when none is running
or the recorded one is gone, against fresh embedded tables; what it prints is what
`sam local invoke` prints. Also what `make run` records for it and for `sam local --env-vars`,
and `make fixtures`."""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local_api.delivery_standins import APNS_KEY_FILE, SERVICE_ACCOUNT_FILE
from local_api.fixtures import (
    DELETED_SERVICE_SID,
    EVENT_ACCOUNT_SID,
    EVENT_AUTH_TOKEN,
    EVENT_IDENTITY,
    EVENT_SERVICE_SID,
    EVENTS_DIR,
    load_event,
)
from local_api.run_state import SAM_ENV_VARS_FILE, STATE_FILE
from local_api.runtime import ENDPOINT_VARIABLES
from local_api.template import PROJECT_ROOT, Function, SamTemplate
from tests.test_events import SUCCESS

STARTUP_SECONDS = 60
INVOKE_SECONDS = 60
STOP_SECONDS = 15
TEMPLATE = SamTemplate.load()
EVENT_FILES = sorted(path.name for path in EVENTS_DIR.glob("*.json"))
_BANNER = re.compile(r"notify-bindings local API on (http://127\.0\.0\.1:\d+) ")
_REQUEST_ID = re.compile(r"^START RequestId: ([0-9a-f-]{36}) Version: \$LATEST$", re.MULTILINE)
# Direct to the loopback server, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def function_of(event_file: str) -> Function:
    """The function whose sample event the file is: events/<its CodeUri's name>.json."""
    (function,) = (
        f for f in TEMPLATE.functions.values() if f"{f.code_dir.name}.json" == event_file
    )
    return function


def clean_environment() -> dict[str, str]:
    """PATH, HOME and LANG of this process: nothing of the template's that pytest exported."""
    return {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}


@dataclass(frozen=True)
class Invoked:
    returncode: int
    stdout: str
    stderr: str

    def response(self) -> Any:
        return json.loads(self.stdout)


def make(*arguments: str) -> Invoked:
    completed = subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=PROJECT_ROOT,
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=INVOKE_SECONDS,
        check=False,
    )
    return Invoked(completed.returncode, completed.stdout, completed.stderr)


def make_invoke(function: str, event: Path | str, state_dir: Path) -> Invoked:
    return make("invoke", f"FN={function}", f"EVENT={event}", f"LOCAL_STATE={state_dir}")


def invoke_module(*arguments: str, stdin: str = "") -> Invoked:
    """`python -m local_api.invoke`, which `make invoke` runs, for its own exit statuses."""
    completed = subprocess.run(
        [sys.executable, "-m", "local_api.invoke", *arguments],
        cwd=PROJECT_ROOT,
        env=clean_environment(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=INVOKE_SECONDS,
        check=False,
    )
    return Invoked(completed.returncode, completed.stdout, completed.stderr)


@dataclass
class MakeRun:
    state_dir: Path
    url: str
    process: subprocess.Popen[str]
    output: list[str]

    def request(self, method: str, path: str) -> tuple[int, Any]:
        credentials = base64.b64encode(f"{EVENT_ACCOUNT_SID}:{EVENT_AUTH_TOKEN}".encode())
        request = urllib.request.Request(
            self.url + path,
            method=method,
            headers={"Authorization": f"Basic {credentials.decode()}"},
        )
        try:
            with _OPENER.open(request, timeout=30) as response:
                body = response.read()
                return response.status, json.loads(body) if body else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> None:
        """SIGTERM to `make run` and its server, as Ctrl-C in its terminal would stop both;
        then wait for the server to remove its state (make may exit before it has)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        deadline = time.monotonic() + STOP_SECONDS
        while self.state_dir.exists() and any(self.state_dir.iterdir()):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    """`make run` on a free port, recording itself in a directory of its own."""
    state_dir = tmp_path_factory.mktemp("local-state")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", "PORT=0", f"LOCAL_STATE={state_dir}"],
        cwd=PROJECT_ROOT,
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: make and the server stop together
    )
    output: list[str] = []
    banner: queue.Queue[str] = queue.Queue()

    def drain() -> None:  # the server logs for as long as it runs: a full pipe would stall it
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if _BANNER.match(line):
                banner.put(line)
        banner.put("")

    threading.Thread(target=drain, name="make-run-output", daemon=True).start()
    running = MakeRun(state_dir, "", process, output)
    try:
        try:
            line = banner.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            line = ""
        match = _BANNER.match(line)
        if match is None:
            pytest.fail("make run did not start; it said:\n" + "".join(output), pytrace=False)
        running.url = match[1]
        yield running
    finally:
        running.stop()


def assert_answers_as_its_event_says(function: Function, response: Any) -> None:
    if function.routes:
        (route,) = function.routes
        assert response["statusCode"] == SUCCESS[route.route_key], response["body"]
    elif function.sqs_sources or function.stream_sources:
        assert response == {"batchItemFailures": []}
    else:  # the authorizer
        assert response == {"isAuthorized": True, "context": {"accountSid": EVENT_ACCOUNT_SID}}


# -- against a running `make run` -------------------------------------------------------------


@pytest.mark.parametrize("event_file", EVENT_FILES)
def test_given_make_run_when_each_event_is_invoked_with_make_invoke_then_it_does_what_its_name_says(
    make_run, event_file
):
    function = function_of(event_file)

    invoked = make_invoke(function.logical_id, Path("events") / event_file, make_run.state_dir)

    assert invoked.returncode == 0, invoked.stderr
    assert_answers_as_its_event_says(function, invoked.response())
    # The logs go to stderr, between the runtime's lines for one request.
    assert f"Invoking against the make run at {make_run.url}" in invoked.stderr
    (request_id,) = _REQUEST_ID.findall(invoked.stderr)
    assert f"\nEND RequestId: {request_id}\n" in invoked.stderr
    assert re.search(rf"^REPORT RequestId: {request_id}\tInit Duration: ", invoked.stderr, re.M)


def test_given_make_run_when_the_fetch_event_is_invoked_then_it_prints_200_with_the_fixture_binding(
    make_run,
):
    event = load_event(TEMPLATE.functions["FetchBindingFunction"])

    invoked = make_invoke("FetchBindingFunction", "events/fetch_binding.json", make_run.state_dir)

    response = invoked.response()  # stdout holds the response, and only it
    binding = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert binding["sid"] == event["pathParameters"]["Sid"]
    assert binding["service_sid"] == EVENT_SERVICE_SID
    assert binding["account_sid"] == EVENT_ACCOUNT_SID
    assert binding["identity"] == EVENT_IDENTITY


def test_given_make_run_when_a_delete_event_is_invoked_twice_then_both_times_it_deletes(
    make_run,
):
    first = make_invoke("DeleteBindingFunction", "events/delete_binding.json", make_run.state_dir)
    second = make_invoke("DeleteBindingFunction", "events/delete_binding.json", make_run.state_dir)

    assert first.response()["statusCode"] == second.response()["statusCode"] == 204


def test_given_make_run_when_make_invoke_creates_a_service_then_make_runs_api_serves_it(make_run):
    invoked = make_invoke("CreateServiceFunction", "events/create_service.json", make_run.state_dir)

    created = json.loads(invoked.response()["body"])
    status, fetched = make_run.request("GET", f"/v1/Services/{created['sid']}")
    assert status == 200
    assert fetched["sid"] == created["sid"]


def test_given_a_binding_deleted_through_make_runs_api_when_make_fixtures_runs_then_it_is_back(
    make_run,
):
    path = load_event(TEMPLATE.functions["FetchBindingFunction"])["rawPath"]
    assert make_run.request("DELETE", path)[0] == 204
    assert make_run.request("GET", path)[0] == 404

    seeded = make("fixtures", f"LOCAL_STATE={make_run.state_dir}")

    assert seeded.returncode == 0, seeded.stderr
    assert EVENT_ACCOUNT_SID in seeded.stdout
    status, binding = make_run.request("GET", path)
    assert status == 200
    assert binding["identity"] == EVENT_IDENTITY


def test_given_make_fixtures_for_the_purge_when_run_then_the_purge_events_service_is_deleted(
    make_run,
):
    seeded = make("fixtures", "FN=PurgeServiceFunction", f"LOCAL_STATE={make_run.state_dir}")

    assert seeded.returncode == 0, seeded.stderr
    assert make_run.request("GET", f"/v1/Services/{DELETED_SERVICE_SID}")[0] == 404
    # ... until the fixtures are put back for every other event
    assert make("fixtures", f"LOCAL_STATE={make_run.state_dir}").returncode == 0
    assert make_run.request("GET", f"/v1/Services/{DELETED_SERVICE_SID}")[0] == 200


def test_given_make_run_then_its_sam_env_vars_point_every_function_at_its_tables_from_a_container(
    make_run,
):
    state = json.loads((make_run.state_dir / STATE_FILE).read_text())
    env_vars = json.loads((make_run.state_dir / SAM_ENV_VARS_FILE).read_text())
    port = state["aws_endpoint"].rsplit(":", 1)[1]

    # SAM's format: the variables of each function, by logical id; SAM sets only those the
    # template declares, so nothing else may be needed.
    assert set(env_vars) == set(TEMPLATE.functions)
    for logical_id, function in TEMPLATE.functions.items():
        variables = env_vars[logical_id]
        assert set(variables) == set(function.environment)
        assert set(ENDPOINT_VARIABLES) <= set(variables)
        for name in ENDPOINT_VARIABLES:
            assert variables[name] == f"http://host.docker.internal:{port}"
        for name, value in function.environment.items():
            if isinstance(value, dict) and value.get("Ref") in TEMPLATE.tables:
                assert variables[name] == state["references"][value["Ref"]]
        assert variables["SERVICE_PURGE_QUEUE_URL"] == state["references"]["ServicePurgeQueue"]
        if "PAGE_TOKEN_SECRET_ARN" in variables:  # the secret's ARN, in the run's moto
            assert variables["PAGE_TOKEN_SECRET_ARN"] == state["references"]["PageTokenSecret"]
    assert env_vars["PublishChangesFunction"]["CHANGE_EVENT_BUS_NAME"] == "ChangeEventBus"
    assert oct((make_run.state_dir / STATE_FILE).stat().st_mode & 0o777) == "0o600"


def test_given_make_run_when_it_stops_then_it_removes_what_it_recorded(tmp_path):
    state_dir = tmp_path / "state"
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", "PORT=0", f"LOCAL_STATE={state_dir}"],
        cwd=PROJECT_ROOT,
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    running = MakeRun(state_dir, "", process, [])
    try:
        assert process.stdout is not None
        for line in process.stdout:  # up to its banner: by then it has recorded itself
            if _BANNER.match(line):
                break
        recorded = sorted(path.name for path in state_dir.iterdir())
    finally:
        running.stop()

    assert recorded == sorted([STATE_FILE, SAM_ENV_VARS_FILE, APNS_KEY_FILE, SERVICE_ACCOUNT_FILE])
    assert list(state_dir.iterdir()) == []


# -- without a running `make run` -------------------------------------------------------------


def test_given_no_make_run_when_the_fetch_event_is_invoked_then_fresh_seeded_tables_answer(
    tmp_path,
):
    invoked = make_invoke("FetchBindingFunction", "events/fetch_binding.json", tmp_path)

    assert invoked.returncode == 0, invoked.stderr
    assert invoked.response()["statusCode"] == 200
    assert "no make run is running" in invoked.stderr
    assert "invoking against a fresh embedded DynamoDB" in invoked.stderr


def test_given_the_state_of_a_make_run_that_died_when_invoked_then_it_says_so_and_uses_fresh_tables(
    make_run, tmp_path
):
    state = json.loads((make_run.state_dir / STATE_FILE).read_text())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a process that has exited
    dead.wait()
    (tmp_path / STATE_FILE).write_text(json.dumps({**state, "pid": dead.pid}))

    invoked = make_invoke("FetchBindingFunction", "events/fetch_binding.json", tmp_path)

    assert invoked.response()["statusCode"] == 200
    assert f"its process {dead.pid} is gone" in invoked.stderr
    assert "invoking against a fresh embedded DynamoDB" in invoked.stderr


def test_given_a_state_whose_endpoints_answer_nothing_when_invoked_then_it_uses_fresh_tables(
    make_run, tmp_path
):
    state = json.loads((make_run.state_dir / STATE_FILE).read_text())
    with socket.socket() as unused:  # a port that nothing listens on once this is closed
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    (tmp_path / STATE_FILE).write_text(
        # A live process (this one) that is not a make run: its endpoints are the proof.
        json.dumps(
            {**state, "pid": os.getpid(), "aws_endpoint": closed, "dynamodb_endpoint": closed}
        )
    )

    invoked = make_invoke("FetchBindingFunction", "events/fetch_binding.json", tmp_path)

    assert invoked.response()["statusCode"] == 200
    assert f"nothing answers at {closed}" in invoked.stderr
    assert "invoking against a fresh embedded DynamoDB" in invoked.stderr


def test_given_an_unreadable_state_when_invoked_then_it_says_so_and_uses_fresh_tables(tmp_path):
    (tmp_path / STATE_FILE).write_text("{not json")

    invoked = make_invoke("FetchBindingFunction", "events/fetch_binding.json", tmp_path)

    assert invoked.response()["statusCode"] == 200
    assert "cannot be read" in invoked.stderr


# -- what `sam local invoke` prints, and its exit statuses --------------------------------------

APP_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Handler: app.handler
    Timeout: 1
    Environment:
      Variables:
        GREETING: hello
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
  FailingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: failing/
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: slow/
  UnanswerableFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: unanswerable/
"""
HANDLERS = {
    "echo": """
        import os
        print("a log line")
        def handler(event, context):
            print("handling", context.aws_request_id)
            return {"event": event, "greeting": os.environ["GREETING"], "text": "café"}
    """,
    "failing": """
        def handler(event, context):
            return check(event)
        def check(event):
            raise ValueError("no " + event["what"])
    """,
    "slow": """
        import time
        def handler(event, context):
            time.sleep(30)
            return "late"
    """,
    "unanswerable": """
        def handler(event, context):
            return {1, 2}
    """,
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway template of plain functions: no tables, so no fixtures."""
    root = tmp_path_factory.mktemp("app")
    (root / "template.yaml").write_text(APP_TEMPLATE)
    for name, code in HANDLERS.items():
        (root / name).mkdir()
        (root / name / "app.py").write_text(textwrap.dedent(code))
    return root


def invoke_app(app: Path, function: str, event: str = "{}", *extra: str) -> Invoked:
    return invoke_module(
        function,
        "--event",
        "-",
        "--template",
        str(app / "template.yaml"),
        "--state-dir",
        str(app / "no-state"),
        "--no-fixtures",
        *extra,
        stdin=event,
    )


def test_given_a_function_when_invoked_then_stdout_is_its_response_alone_and_stderr_its_logs(app):
    invoked = invoke_app(app, "EchoFunction", '{"name": "x"}')

    assert invoked.returncode == 0
    # As the SAM CLI writes it: JSON, non-ASCII as it is, no newline after it.
    assert invoked.stdout == json.dumps(
        {"event": {"name": "x"}, "greeting": "hello", "text": "café"}, ensure_ascii=False
    )
    (request_id,) = _REQUEST_ID.findall(invoked.stderr)
    lines = invoked.stderr.splitlines()
    assert lines[0] == "Invoking app.handler (python3.13)"
    assert lines.index("a log line") < lines.index(f"handling {request_id}")
    assert lines[lines.index(f"handling {request_id}") + 1] == f"END RequestId: {request_id}"
    assert re.fullmatch(
        rf"REPORT RequestId: {request_id}\tInit Duration: \d+\.\d\d ms\tDuration: \d+\.\d\d ms"
        r"\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\t",
        lines[lines.index(f"END RequestId: {request_id}") + 1],
    )


def test_given_a_variable_the_template_declares_in_the_shell_when_invoked_then_it_overrides(app):
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "local_api.invoke", "EchoFunction", "--no-fixtures"),
            *("--template", str(app / "template.yaml"), "--state-dir", str(app / "no-state")),
        ],
        cwd=PROJECT_ROOT,
        env={**clean_environment(), "GREETING": "hi", "UNDECLARED": "x"},
        capture_output=True,
        text=True,
        timeout=INVOKE_SECONDS,
        check=False,
    )

    assert json.loads(completed.stdout) == {"event": {}, "greeting": "hi", "text": "café"}


def test_given_a_function_that_raises_when_invoked_then_it_answers_lambdas_error_json_and_exits_0(
    app,
):
    invoked = invoke_app(app, "FailingFunction", '{"what": "luck"}')

    assert invoked.returncode == 0
    error = invoked.response()
    (request_id,) = _REQUEST_ID.findall(invoked.stderr)
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["errorMessage"] == "no luck"
    assert error["errorType"] == "ValueError"
    assert error["requestId"] == request_id
    # From the handler down, as traceback formats each frame.
    assert [entry.split(", ")[2].split("\n")[0] for entry in error["stackTrace"]] == [
        "in handler",
        "in check",
    ]
    assert error["stackTrace"][1].startswith(f'  File "{app / "failing" / "app.py"}", line 5')
    # ... and logged as the Lambda runtime logs it, its indentation in no-break spaces.
    assert "[ERROR] ValueError: no luck\nTraceback (most recent call last):\n" in invoked.stderr
    assert '\n\u00a0\u00a0File "' in invoked.stderr
    assert '\u00a0\u00a0\u00a0\u00a0raise ValueError("no " + event["what"])' in invoked.stderr


def test_given_a_function_past_its_timeout_when_invoked_then_nothing_is_on_stdout_and_it_exits_0(
    app,
):
    invoked = invoke_app(app, "SlowFunction")

    assert invoked.returncode == 0
    assert invoked.stdout == ""
    assert "Function 'SlowFunction' timed out after 1 seconds" in invoked.stderr


def test_given_an_answer_that_is_not_json_when_invoked_then_the_error_is_lambdas_marshal_error(app):
    invoked = invoke_app(app, "UnanswerableFunction")

    assert invoked.returncode == 0
    error = invoked.response()
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"].startswith("Unable to marshal response: ")


def test_given_an_event_that_is_not_json_when_invoked_then_the_error_is_lambdas_unmarshal_error(
    app,
):
    invoked = invoke_app(app, "EchoFunction", "{not json")

    assert invoked.returncode == 0
    assert invoked.response()["errorType"] == "Runtime.UnmarshalError"


def test_given_a_function_not_in_the_template_when_invoked_then_it_says_so_and_exits_1(app):
    invoked = invoke_app(app, "NoSuchFunction")

    assert invoked.returncode == 1
    assert invoked.stdout == ""
    assert invoked.stderr.startswith("Error: Function NoSuchFunction not found in template.")
    assert "EchoFunction" in invoked.stderr


def test_given_an_event_file_that_does_not_exist_when_invoked_then_it_says_so_and_exits_1(tmp_path):
    missing = tmp_path / "missing.json"

    invoked = invoke_module("FetchBindingFunction", "--event", str(missing))
    made = make_invoke("FetchBindingFunction", missing, tmp_path)

    assert invoked.returncode == 1
    assert invoked.stderr == f"Error: [Errno 2] No such file or directory: '{missing}'\n"
    assert made.returncode != 0  # make's own status for a failed command
    assert made.stdout == ""
