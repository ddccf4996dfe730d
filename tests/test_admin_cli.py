"""The admin CLI run as an administrator runs it, against an embedded DynamoDB server (moto's,
on 127.0.0.1) holding the template's tables: its `main()`, in this process, with the arguments,
working directory and environment (no AWS settings but those a test gives) that
`python -m notify_admin` would have - and once through scripts/notify-admin, in a process of its
own, as an administrator types it."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from local_api.runtime import LOCAL_CREDENTIALS, create_tables, dynamodb_client, embedded_dynamodb
from local_api.template import PROJECT_ROOT, SamTemplate
from notify_admin.__main__ import main
from notify_bindings.dal.accounts import AccountStore

TABLE = "AccountsTable"
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
KEY_SID = re.compile(r"SK[0-9a-f]{32}")
COMMANDS = [
    [],
    ["accounts"],
    ["accounts", "create"],
    ["accounts", "list"],
    ["accounts", "rotate-token"],
    ["keys"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
]


@pytest.fixture(scope="module")
def endpoint(template: SamTemplate) -> Iterator[str]:
    with embedded_dynamodb() as url:
        create_tables(dynamodb_client(url), template)
        yield url


@pytest.fixture(scope="module")
def accounts(endpoint: str) -> AccountStore:
    """The table the CLI writes, read directly: what the CLI prints must work here."""
    return AccountStore(dynamodb_client(endpoint), TABLE)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Not the project: the CLI must not depend on where it is run from."""
    return tmp_path_factory.mktemp("admin")


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any AWS setting, and with `extra`."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return {**environment, **extra}


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run(workdir: Path, *arguments: str, environment: dict[str, str] | None = None) -> Completed:
    """The CLI's exit status and output for `arguments`, run in `workdir` with `environment`
    (by default this process's without any AWS setting) in place of this process's own."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, environment or clean_environment(), clear=True),
        _working_directory(workdir),
        redirect_stdout(stdout),
        redirect_stderr(stderr),
    ):
        try:
            status = main(list(arguments))
        except SystemExit as exited:  # argparse: --help, and usage errors
            status = exited.code if isinstance(exited.code, int) else 1
    return Completed(status, stdout.getvalue(), stderr.getvalue())


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def admin(endpoint: str, workdir: Path):
    """Runs a CLI command against the embedded DynamoDB, with no AWS settings at all."""

    def call(*arguments: str) -> Completed:
        return run(workdir, "--endpoint-url", endpoint, *arguments)

    return call


def field(output: str, label: str) -> str:
    match = re.search(rf"^{label}\s+(\S+)$", output, re.MULTILINE)
    assert match, f"no {label!r} in {output!r}"
    return match.group(1)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command) or "root")
def test_given_help_on_any_command_then_usage_and_exit_0(workdir, command):
    result = run(workdir, *command, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: notify-admin {' '.join(command)}".rstrip())
    assert "exit status" in result.stdout


def test_given_accounts_create_then_sid_and_token_once_with_a_warning(admin, accounts):
    result = admin("accounts", "create", "--friendly-name", "Production")

    assert result.returncode == 0, result.stderr
    sid, token = field(result.stdout, "Account SID"), field(result.stdout, "Auth token")
    assert ACCOUNT_SID.fullmatch(sid)
    assert "cannot be shown again" in result.stderr
    assert token not in result.stderr
    assert accounts.authenticate(sid, token) == sid
    assert accounts.get_account(sid).friendly_name == "Production"


def test_given_accounts_create_json_then_one_parseable_object(admin, accounts):
    result = admin("accounts", "create", "--json", "--friendly-name", "CI")

    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"sid", "friendly_name", "date_created", "auth_token"}
    assert created["friendly_name"] == "CI"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created["date_created"])
    assert accounts.authenticate(created["sid"], created["auth_token"]) == created["sid"]


def test_given_accounts_then_accounts_list_shows_them_and_no_secret(admin, accounts):
    account, token = accounts.create_account("listed")

    text = admin("accounts", "list")
    as_json = admin("accounts", "list", "--json")

    assert text.returncode == as_json.returncode == 0
    assert re.search(rf"^{account.sid}\s+\S+Z\s+listed$", text.stdout, re.MULTILINE)
    listed = {entry["sid"]: entry for entry in json.loads(as_json.stdout)}
    assert listed[account.sid] == {
        "sid": account.sid,
        "friendly_name": "listed",
        "date_created": account.date_created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert token not in text.stdout + as_json.stdout


def test_given_rotate_token_then_the_new_token_works_and_the_old_does_not(admin, accounts):
    account, old = accounts.create_account()

    result = admin("accounts", "rotate-token", account.sid)
    as_json = admin("accounts", "rotate-token", account.sid, "--json")

    assert result.returncode == as_json.returncode == 0
    assert field(result.stdout, "Account SID") == account.sid
    rotated = json.loads(as_json.stdout)
    assert rotated["sid"] == account.sid
    assert accounts.authenticate(account.sid, old) is None
    assert accounts.authenticate(account.sid, field(result.stdout, "Auth token")) is None
    assert accounts.authenticate(account.sid, rotated["auth_token"]) == account.sid
    assert "cannot be shown again" in result.stderr


def test_given_keys_create_then_sid_and_secret_once_that_prove_the_account(admin, accounts):
    account, _ = accounts.create_account()

    result = admin("keys", "create", account.sid, "--friendly-name", "deploy")
    as_json = admin("keys", "create", account.sid, "--json")

    assert result.returncode == as_json.returncode == 0
    sid, secret = field(result.stdout, "API key SID"), field(result.stdout, "Secret")
    assert KEY_SID.fullmatch(sid)
    assert field(result.stdout, "Account SID") == account.sid
    assert "cannot be shown again" in result.stderr
    assert accounts.authenticate(sid, secret) == account.sid
    created = json.loads(as_json.stdout)
    assert set(created) == {"sid", "account_sid", "friendly_name", "date_created", "secret"}
    assert accounts.authenticate(created["sid"], created["secret"]) == account.sid


def test_given_keys_then_keys_list_shows_them(admin, accounts):
    account, _ = accounts.create_account()
    key, secret = accounts.create_api_key(account.sid, "listed key")

    text = admin("keys", "list", account.sid)
    as_json = admin("keys", "list", account.sid, "--json")

    assert text.returncode == as_json.returncode == 0
    assert re.search(rf"^{key.sid}\s+\S+Z\s+listed key$", text.stdout, re.MULTILINE)
    assert json.loads(as_json.stdout) == [
        {
            "sid": key.sid,
            "account_sid": account.sid,
            "friendly_name": "listed key",
            "date_created": key.date_created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ]
    assert secret not in text.stdout + as_json.stdout


def test_given_an_account_without_keys_then_an_empty_list(admin, accounts):
    account, _ = accounts.create_account()

    result = admin("keys", "list", account.sid, "--json")

    assert result.returncode == 0
    assert json.loads(result.stdout) == []


def test_given_keys_revoke_then_the_secret_stops_working_and_a_second_revoke_is_not_found(
    admin, accounts
):
    account, _ = accounts.create_account()
    key, secret = accounts.create_api_key(account.sid)

    revoked = admin("keys", "revoke", key.sid, "--json")
    again = admin("keys", "revoke", key.sid)

    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout) == {"sid": key.sid, "revoked": True}
    assert accounts.authenticate(key.sid, secret) is None
    assert again.returncode == 1
    assert f"No API key {key.sid}" in again.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["accounts", "rotate-token"],
        ["keys", "create"],
        ["keys", "list"],
    ],
)
def test_given_an_unknown_account_then_exit_1(admin, command):
    missing = "AC" + "e" * 32

    result = admin(*command, missing)

    assert result.returncode == 1
    assert f"No account {missing}" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "arguments",
    [
        ["accounts", "rotate-token", "AC123"],
        ["keys", "create", "SK" + "0" * 32],
        ["keys", "list", "AC" + "F" * 32],
        ["keys", "revoke", "AC" + "0" * 32],
        ["accounts", "create", "--friendly-name", "x" * 65],
        ["accounts"],
        ["accounts", "delete"],
    ],
)
def test_given_a_malformed_command_then_exit_2(admin, arguments):
    result = admin(*arguments)

    assert result.returncode == 2
    assert "notify-admin" in result.stderr


def test_given_no_target_then_exit_2(workdir):
    result = run(workdir, "accounts", "list")

    assert result.returncode == 2
    assert "--endpoint-url, --stack or --table" in result.stderr


def test_given_the_target_after_the_command_then_it_is_used(endpoint, workdir, accounts):
    result = run(workdir, "accounts", "create", "--endpoint-url", endpoint, "--json")

    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert accounts.authenticate(created["sid"], created["auth_token"]) == created["sid"]


def test_given_a_table_that_does_not_exist_then_exit_1(admin):
    result = admin("--table", "NoSuchTable", "accounts", "list")

    assert result.returncode == 1
    assert "NoSuchTable" in result.stderr


def test_given_an_endpoint_nobody_listens_on_then_exit_3(workdir):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = run(workdir, "--endpoint-url", f"http://127.0.0.1:{port}", "accounts", "list")

    assert result.returncode == 3
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def stack(endpoint: str, template: SamTemplate) -> str:
    """A stack in the embedded server (moto's CloudFormation) with AccountsTable's key schema
    and the output the CLI reads."""
    import boto3

    accounts_table = template.tables["AccountsTable"]
    document: dict[str, Any] = {
        "Resources": {
            "AccountsTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": "stack-accounts",
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": accounts_table["AttributeDefinitions"],
                    "KeySchema": accounts_table["KeySchema"],
                    "GlobalSecondaryIndexes": accounts_table["GlobalSecondaryIndexes"],
                },
            },
            "CredentialsKey": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {}}},
        },
        "Outputs": {
            "AccountsTableName": {"Value": {"Ref": "AccountsTable"}},
            "CredentialsKeyArn": {"Value": {"Fn::GetAtt": ["CredentialsKey", "Arn"]}},
        },
    }
    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=endpoint,
        region_name=LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    cloudformation.create_stack(StackName="notify-test", TemplateBody=json.dumps(document))
    return "notify-test"


def aws_pointing_at(endpoint: str) -> dict[str, str]:
    """The standard AWS settings, as a deployed stack's administrator has them, except that
    every AWS API is the embedded server on 127.0.0.1."""
    return clean_environment(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
    )


def test_given_a_stack_then_its_accounts_table_output_is_used(endpoint, stack, workdir):
    environment = aws_pointing_at(endpoint)
    region = LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"]

    created = run(
        workdir,
        "--stack",
        stack,
        "--region",
        region,
        "accounts",
        "create",
        "--json",
        environment=environment,
    )

    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)
    in_stack = AccountStore(dynamodb_client(endpoint), "stack-accounts")
    assert in_stack.authenticate(account["sid"], account["auth_token"]) == account["sid"]
    assert AccountStore(dynamodb_client(endpoint), TABLE).get_account(account["sid"]) is None
    assert "Not sealed" not in created.stderr


def test_given_a_stack_then_new_and_rotated_tokens_are_sealed_with_its_key(
    endpoint, stack, workdir
):
    import boto3

    from notify_bindings.dal.sealing import Sealer

    environment = aws_pointing_at(endpoint)
    target = ["--stack", stack, "--region", LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"], "--json"]
    created = run(workdir, *target, "accounts", "create", environment=environment)
    account = json.loads(created.stdout)
    kms = boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=endpoint,
        region_name=LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    (key,) = [
        o["OutputValue"] for o in described["Outputs"] if o["OutputKey"] == "CredentialsKeyArn"
    ]
    in_stack = AccountStore(dynamodb_client(endpoint), "stack-accounts", sealer=Sealer(kms, key))
    assert in_stack.auth_token(account["sid"]) == account["auth_token"]

    rotated = run(
        workdir, *target, "accounts", "rotate-token", account["sid"], environment=environment
    )

    assert rotated.returncode == 0, rotated.stderr
    assert in_stack.auth_token(account["sid"]) == json.loads(rotated.stdout)["auth_token"]


def test_given_no_credentials_key_then_the_token_is_not_sealed_and_it_says_so(admin, accounts):
    created = admin("accounts", "create", "--json")

    assert created.returncode == 0, created.stderr
    assert "Not sealed" in created.stderr


def test_given_an_unknown_stack_then_exit_1(endpoint, stack, workdir):
    result = run(
        workdir,
        "--stack",
        "no-such-stack",
        "--region",
        "us-east-1",
        "accounts",
        "list",
        environment=aws_pointing_at(endpoint),
    )

    assert result.returncode == 1
    assert "No stack no-such-stack" in result.stderr


def test_given_a_stack_and_a_table_then_exit_2(workdir):
    result = run(workdir, "--stack", "s", "--table", "t", "accounts", "list")

    assert result.returncode == 2


def test_given_the_wrapper_script_then_it_runs_the_cli_from_anywhere(endpoint, workdir, accounts):
    script = PROJECT_ROOT / "scripts" / "notify-admin"
    if not (PROJECT_ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("the wrapper runs the project's .venv, which this checkout does not have")
    # Neither AWS settings nor a PYTHONPATH: the wrapper sets the one it needs.
    environment = {k: v for k, v in clean_environment().items() if k != "PYTHONPATH"}

    result = subprocess.run(
        [str(script), "--endpoint-url", endpoint, "accounts", "create", "--json"],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert accounts.authenticate(created["sid"], created["auth_token"]) == created["sid"]
