"""notify-migrate's command line: --help of every command through scripts/notify-migrate, and
what it answers before any binding moves (usage errors, missing credentials, an unreachable
API), with its exit statuses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from notify_migrate.__main__ import FAILED, USAGE, _output_file, main
from tests.e2e.support import PROJECT_ROOT, clean_environment

MIGRATE_CLI = PROJECT_ROOT / "scripts" / "notify-migrate"
SERVICE = "IS" + "a" * 32
CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard: nothing listens there
CREDENTIALS = {"NOTIFY_ACCOUNT_SID": "AC" + "b" * 32, "NOTIFY_AUTH_TOKEN": "c" * 32}


HELP = {
    (): ["export", "import", "migrate", "exit status", "130"],
    ("export",): ["--output", "NOTIFY_ACCOUNT_SID", "NOTIFY_API_KEY_SECRET", "--total"],
    ("import",): ["--rejects", "--workers", "NOTIFY_AUTH_TOKEN", "resume", "--credential-map"],
    ("migrate",): [
        "--source-url",
        "--target-service",
        "NOTIFY_SOURCE_API_KEY_SID",
        "NOTIFY_TARGET_",
    ],
}


def test_given_any_command_when_asked_for_help_then_it_explains_itself_and_exits_0():
    # All at once: each process spends most of its time importing the twilio client.
    running = {
        command: subprocess.Popen(
            [str(MIGRATE_CLI), *command, "--help"],
            env=clean_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in HELP
    }

    for command, process in running.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        for mention in HELP[command]:
            assert mention in out, f"{' '.join(command)} --help does not mention {mention}"


def test_given_no_credentials_in_the_environment_when_exporting_then_it_says_which_and_exits_2(
    monkeypatch, capsys, tmp_path
):
    for name in ("NOTIFY_ACCOUNT_SID", "NOTIFY_AUTH_TOKEN", "NOTIFY_API_KEY_SID"):
        monkeypatch.delenv(name, raising=False)

    code = main(["export", "--service", SERVICE, "-o", str(tmp_path / "out.jsonl")])

    assert code == USAGE
    assert "set NOTIFY_ACCOUNT_SID and NOTIFY_AUTH_TOKEN" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_given_half_an_api_key_when_migrating_then_it_asks_for_both_halves(monkeypatch, capsys):
    monkeypatch.setenv("NOTIFY_SOURCE_ACCOUNT_SID", "AC" + "b" * 32)
    monkeypatch.setenv("NOTIFY_SOURCE_API_KEY_SID", "SK" + "d" * 32)
    monkeypatch.delenv("NOTIFY_SOURCE_API_KEY_SECRET", raising=False)

    arguments = ["migrate", "--source-service", SERVICE, "--target-url", CLOSED_PORT_URL]
    code = main([*arguments, "--target-service", SERVICE])

    assert code == USAGE
    assert "NOTIFY_SOURCE_API_KEY_SECRET" in capsys.readouterr().err


@pytest.mark.parametrize(
    "arguments",
    [
        ["import", "in.jsonl", "--url", CLOSED_PORT_URL, "--service", "IS123"],
        ["import", "in.jsonl", "--url", "127.0.0.1:3000", "--service", SERVICE],
        ["import", "in.jsonl", "--service", SERVICE],  # import has no default API
        ["import", "in.jsonl", "--url", CLOSED_PORT_URL, "--service", SERVICE, "--workers", "0"],
        ["export", "--service", SERVICE],  # no --output
        [
            *["import", "in.jsonl", "--url", CLOSED_PORT_URL, "--service", SERVICE],
            *["--credential-map", "CR" + "a" * 32],  # no target
        ],
        [
            *["import", "in.jsonl", "--url", CLOSED_PORT_URL, "--service", SERVICE],
            *["--credential-map", f"CR{'a' * 32}=IS{'b' * 32}"],  # not a Credential SID
        ],
    ],
)
def test_given_a_malformed_argument_when_run_then_it_exits_2(arguments, capsys):
    with pytest.raises(SystemExit) as exited:
        main(arguments)

    assert exited.value.code == USAGE


def test_given_a_credential_mapped_to_two_when_migrating_then_it_exits_2_before_any_request(
    capsys,
):
    source, one, other = ("CR" + c * 32 for c in "abc")
    arguments = ["migrate", "--source-service", SERVICE, "--target-url", CLOSED_PORT_URL]
    arguments += ["--target-service", SERVICE, "--credential-map", f"{source}={one}"]

    code = main([*arguments, "--credential-map", f"{source}={other}"])

    assert code == USAGE
    assert f"--credential-map gives {source} twice" in capsys.readouterr().err


def test_given_no_such_file_when_importing_then_it_exits_2(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)

    code = main(["import", "missing.jsonl", "--url", CLOSED_PORT_URL, "--service", SERVICE])

    assert code == USAGE
    assert "no file missing.jsonl" in capsys.readouterr().err


def test_given_an_api_that_cannot_be_reached_when_importing_then_it_fails_with_3_and_a_summary(
    monkeypatch, capsys, tmp_path
):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    records = tmp_path / "in.jsonl"
    records.write_text('{"identity": "a", "binding_type": "apn", "address": "t"}\n')

    code = main(["import", str(records), "--url", CLOSED_PORT_URL, "--service", SERVICE, "--json"])

    captured = capsys.readouterr()
    assert code == FAILED
    summary = json.loads(captured.out)
    assert summary["processed"] == 0
    assert "no answer" in summary["failure"]
    assert "run the same command again" in captured.err


def test_given_an_export_that_stops_midway_then_it_leaves_no_file_behind(tmp_path: Path):
    path = tmp_path / "bindings.jsonl"

    def export_interrupted() -> None:
        with _output_file(str(path)) as stream:
            stream.write('{"identity": "a"}\n')
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_interrupted()

    assert list(tmp_path.iterdir()) == []
