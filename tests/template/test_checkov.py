"""checkov's findings on template.yaml, decided in the template: every skip names its check and
says why, every function decides VPC placement, reserved concurrency and a dead-letter queue, and
the reason given for the last holds (nothing invokes such a function asynchronously, and what
does invoke it keeps failures somewhere). And `make audit` runs checkov offline: through
scripts/scan_template.py, which turns off checkov's calls home and refuses any connection that is
not loopback - shown here without checkov - and, where `make audit` has built the tools'
virtualenv, on the template itself and on broken copies of it.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import socket
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local_api.template import PROJECT_ROOT, SamTemplate

Document = dict[str, Any]

SCAN_SCRIPT = PROJECT_ROOT / "scripts" / "scan_template.py"
TOOLS_PYTHON = PROJECT_ROOT / ".venv-tools" / "bin" / "python"
CHECK_ID = re.compile(r"CKV2?_AWS_\d+")
# What each function decides rather than fixes, with a reason next to it.
FUNCTION_DECISIONS = {
    "CKV_AWS_115": "reserved concurrency",
    "CKV_AWS_116": "a dead-letter queue",
    "CKV_AWS_117": "VPC placement",
}
# The events by which Lambda invokes a function synchronously (an event source mapping polls a
# queue or a stream; API Gateway waits for the answer): a function DLQ never sees them.
SYNCHRONOUS_EVENTS = {"HttpApi", "Api", "SQS", "DynamoDB", "Kinesis"}


def skips(resource: Document) -> list[Document]:
    entries: list[Document] = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    return entries


def check_skips_give_reasons(document: Document) -> None:
    """Every skip is a mapping of a check id and a comment that says something."""
    for name, resource in document["Resources"].items():
        ids = [entry.get("id") for entry in skips(resource)]
        assert len(ids) == len(set(ids)), f"{name} skips a check twice"
        for entry in skips(resource):
            assert set(entry) == {"id", "comment"}, (name, entry)
            assert CHECK_ID.fullmatch(str(entry["id"])), (name, entry)
            comment = str(entry["comment"]).strip()
            assert len(comment.split()) >= 5, f"{name} skips {entry['id']} without a reason"


def check_decisions(document: Document) -> None:
    """Every function decides the three, nothing else skips anything: encryption and the rest
    are fixed, not skipped."""
    for name, resource in document["Resources"].items():
        decided = {entry["id"] for entry in skips(resource)}
        if resource["Type"] == "AWS::Serverless::Function":
            assert decided == set(FUNCTION_DECISIONS), f"{name} decides {decided}"
        else:
            assert not decided, f"{name} skips {decided}"


def check_no_dead_letter_queue_needed(document: Document) -> None:
    """A function that goes without a DLQ is invoked only synchronously, or is the API's
    authorizer; a queue that feeds it hands failing messages to a dead-letter queue, and a stream
    records a failing batch in an OnFailure destination."""
    template = SamTemplate(document)
    authorizers = {route.authorizer.function for route in template.routes if route.authorizer}
    for name, resource in document["Resources"].items():
        if "CKV_AWS_116" not in {entry["id"] for entry in skips(resource)}:
            continue
        events = resource["Properties"].get("Events", {}).values()
        assert events or name in authorizers, f"{name}: invoked by what?"
        for event in events:
            assert event["Type"] in SYNCHRONOUS_EVENTS, f"{name} is invoked by {event['Type']}"
            properties = event["Properties"]
            if event["Type"] == "SQS":
                queue = properties["Queue"]["Fn::GetAtt"][0]
                redrive = document["Resources"][queue]["Properties"].get("RedrivePolicy", {})
                assert "deadLetterTargetArn" in redrive, f"{queue} feeds {name} with no DLQ"
            if event["Type"] in ("DynamoDB", "Kinesis"):
                on_failure = properties.get("DestinationConfig", {}).get("OnFailure", {})
                assert on_failure.get("Destination"), f"{name}'s stream has no OnFailure"


def load_scan_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scan_template", SCAN_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scan() -> ModuleType:
    return load_scan_script()


# -- the template as it is -----------------------------------------------------------------


def test_given_the_template_then_every_checkov_skip_names_its_check_and_says_why(sam_document):
    check_skips_give_reasons(sam_document)


def test_given_the_template_then_every_function_decides_vpc_concurrency_and_dlq_and_nothing_else_is_skipped(  # noqa: E501
    sam_document,
):
    check_decisions(sam_document)


def test_given_a_function_without_a_dlq_then_it_is_invoked_synchronously_and_failures_are_kept(
    sam_document,
):
    check_no_dead_letter_queue_needed(sam_document)


BREAKAGES = {
    "a skip without a comment": (
        check_skips_give_reasons,
        "ListUsersFunction",
        lambda d: skips(d["Resources"]["ListUsersFunction"])[0].pop("comment"),
    ),
    "a skip whose comment says nothing": (
        check_skips_give_reasons,
        "FetchUserFunction skips CKV_AWS_116 without a reason",
        lambda d: skips(d["Resources"]["FetchUserFunction"])[0].update(comment="n/a"),
    ),
    "a function that decides nothing": (
        check_decisions,
        "DeleteUserFunction decides set()",
        lambda d: d["Resources"]["DeleteUserFunction"].pop("Metadata"),
    ),
    "an encryption finding skipped": (
        check_decisions,
        "AccountsTable skips {'CKV_AWS_119'}",
        lambda d: d["Resources"]["AccountsTable"].update(
            Metadata={"checkov": {"skip": [{"id": "CKV_AWS_119", "comment": "x y z w v"}]}}
        ),
    ),
    "a function without a DLQ that a schedule invokes": (
        check_no_dead_letter_queue_needed,
        "PurgeServiceFunction is invoked by ScheduleV2",
        lambda d: d["Resources"]["PurgeServiceFunction"]["Properties"]["Events"].update(
            Nightly={"Type": "ScheduleV2", "Properties": {"ScheduleExpression": "rate(1 day)"}}
        ),
    ),
    "a queue that keeps no failing message": (
        check_no_dead_letter_queue_needed,
        "DeadTokenQueue feeds ReportDeadTokensFunction with no DLQ",
        lambda d: d["Resources"]["DeadTokenQueue"]["Properties"].pop("RedrivePolicy"),
    ),
    "a stream that keeps no failing batch": (
        check_no_dead_letter_queue_needed,
        "ForgetExpiredFunction's stream has no OnFailure",
        lambda d: d["Resources"]["ForgetExpiredFunction"]["Properties"]["Events"]["Expired"][
            "Properties"
        ].pop("DestinationConfig"),
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_given_a_template_broken_in_one_way_then_its_check_fails(sam_document, breakage):
    check, complaint, break_it = BREAKAGES[breakage]
    broken = copy.deepcopy(sam_document)
    break_it(broken)

    with pytest.raises((AssertionError, KeyError), match=re.escape(complaint)):
        check(broken)


# -- make audit runs checkov offline ------------------------------------------------------------


def test_given_make_audit_then_it_runs_checkov_only_through_the_offline_scan():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    recipe = re.search(r"^audit:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None
    commands = recipe[1]

    assert "$(TOOLS)/bin/python scripts/scan_template.py template.yaml" in commands
    assert "bin/checkov" not in makefile


def test_given_the_scan_then_checkov_is_told_to_stay_offline(scan):
    arguments = scan.scan_arguments("template.yaml")

    assert "--skip-download" in arguments  # no policy metadata from Prisma Cloud
    assert arguments[arguments.index("--framework") + 1] == "cloudformation"
    environment = scan.offline_environment(
        {
            "PATH": "/usr/bin",
            "BC_API_KEY": "an-api-key",  # would upload the results
            "PRISMA_API_URL": "https://api.example",
            "CKV_SKIP_CHECK": "CKV_AWS_27",  # would hide a check
            "CHECKOV_SOFT_FAIL": "true",
            "HOME": "/home/someone",  # where a .checkov.yaml could change the scan
        },
        "/tmp/scan-home",
    )
    assert environment == {
        "PATH": "/usr/bin",
        "HOME": "/tmp/scan-home",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",  # no request to PyPI for a newer checkov
        "BC_SKIP_MAPPING": "TRUE",
    }


def test_given_the_guard_when_a_name_elsewhere_is_looked_up_then_it_is_refused_before_any_lookup(
    scan, monkeypatch
):
    looked_up = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **_: looked_up.append(args))

    with scan.LoopbackOnly().installed() as guard, pytest.raises(OSError, match="loopback only"):
        socket.getaddrinfo("pypi.org", 443)

    assert looked_up == []
    assert guard.refused == ["pypi.org:443"]


def test_given_the_guard_when_an_address_elsewhere_is_connected_to_then_it_is_refused_unsent(
    scan, monkeypatch
):
    connected = []
    monkeypatch.setattr(socket.socket, "connect", lambda sock, address: connected.append(address))

    with (
        scan.LoopbackOnly().installed() as guard,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(OSError, match="loopback only"),
    ):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: no host is there, nothing is sent

    assert connected == []
    assert guard.refused == ["192.0.2.1:443"]


def test_given_the_guard_when_loopback_is_connected_to_then_it_goes_through_and_the_guard_comes_off(
    scan,
):
    original = socket.getaddrinfo
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with scan.LoopbackOnly().installed() as guard:
            socket.create_connection(("localhost", port), timeout=5).close()
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

    assert guard.refused == []
    assert socket.getaddrinfo is original


# -- the scan itself, where `make audit` has built the tools' virtualenv ------------------------


@pytest.fixture(scope="module")
def tools_python() -> Path:
    """The tools' virtualenv's python, where checkov is, or a skip when `make audit` has not
    built it."""
    has_checkov = "import importlib.util, sys; sys.exit(not importlib.util.find_spec('checkov'))"
    if (
        not TOOLS_PYTHON.exists()
        or subprocess.run([str(TOOLS_PYTHON), "-c", has_checkov], check=False).returncode
    ):
        pytest.skip("checkov is in .venv-tools, which `make audit` builds")
    return TOOLS_PYTHON


def run_scan(python: Path, template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(SCAN_SCRIPT), str(template)],
        capture_output=True,
        text=True,
        check=False,
        cwd=template.parent,
        timeout=300,
    )


def test_given_the_template_when_scanned_then_nothing_fails_and_nothing_is_reached(tools_python):
    result = run_scan(tools_python, PROJECT_ROOT / "template.yaml")

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\d+ checks passed, \d+ skipped .*, 0 failed", result.stdout)
    assert "tried to reach" not in result.stderr


def test_given_a_queue_without_the_key_and_a_skip_without_a_reason_when_scanned_then_it_fails(
    tools_python, tmp_path
):
    text = (PROJECT_ROOT / "template.yaml").read_text()
    key_line = "      KmsMasterKeyId: !If [HasKmsKey, !Ref KmsKeyArn, !Ref AWS::NoValue]\n"
    reason = re.search(r"\n            comment: [^\n]*", text)
    assert key_line in text
    assert reason is not None
    broken = tmp_path / "template.yaml"
    broken.write_text(text.replace(key_line, "", 1).replace(reason[0], "", 1))

    result = run_scan(tools_python, broken)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout  # the queue: CKV_AWS_27
    assert "skipped on AWS::Serverless::Function.AuthorizerFunction without a reason" in (
        result.stderr
    )
    assert "tried to reach" not in result.stderr
