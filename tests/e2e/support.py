"""What the end-to-end tests share beside fixtures: the local API as a subprocess, the
official client aimed at it, and the admin CLI."""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ADMIN_CLI = PROJECT_ROOT / "scripts" / "notify-admin"
STARTUP_SECONDS = 60
ANNOUNCEMENT_LINES = 30  # the banner and what follows it
STOP_SECONDS = 10
ADMIN_SECONDS = 60
_BANNER = re.compile(
    r"notify-bindings local API on (?P<url>http://127\.0\.0\.1:\d+) "
    r"\(DynamoDB at (?P<dynamodb>http://127\.0\.0\.1:\d+)\)"
)
# All the server inherits from this process. The pytest process exports the template's
# variables (tests/conftest.py), and the server would take any of them as overrides.
_INHERITED = ("PATH", "HOME", "LANG")


@dataclass(frozen=True)
class Credentials:
    """HTTP Basic credentials: an Account SID and its auth token, or an API key SID and its
    secret, `account_sid` being the key's account."""

    username: str
    password: str
    account_sid: str


@dataclass(frozen=True)
class StandIns:
    """The delivery stand-ins the local API started, as its announcement names them."""

    apns_url: str
    apns_ca_file: str
    apns_key_file: str
    apns_key_id: str
    apns_team_id: str
    apns_topic: str
    fcm_url: str
    service_account_file: str
    twilio_url: str


_STANDINS = re.compile(
    r"APNs stand-in on (?P<apns_url>\S+) \(GET /deliveries; CA (?P<apns_ca_file>[^)]+)\); "
    r"it accepts the token key (?P<apns_key_file>\S+) with ApnKeyId (?P<apns_key_id>\S+), "
    r"ApnTeamId (?P<apns_team_id>\S+), ApnTopic (?P<apns_topic>\S+)\n"
    r"FCM stand-in on (?P<fcm_url>\S+) .*it accepts the service account "
    r"(?P<service_account_file>\S+)\n"
    r"Twilio Messages stand-in on (?P<twilio_url>\S+) "
)
_SQS = re.compile(r"^SQS at (?P<url>http://127\.0\.0\.1:\d+): ", re.MULTILINE)


@dataclass(frozen=True)
class LocalApi:
    url: str
    dynamodb_url: str
    account: Credentials
    other_account: Credentials
    standins: StandIns | None = None
    sqs_url: str | None = None  # the SQS endpoint its queues are at, as it announced it


def new_account_credentials() -> Credentials:
    sid = "AC" + secrets.token_hex(16)
    return Credentials(sid, secrets.token_hex(16), sid)


def clean_environment(**variables: str) -> dict[str, str]:
    """PATH, HOME and LANG of this process, and `variables`: nothing else."""
    inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    return {**inherited, **variables}


@contextmanager
def running_local_api(
    *, quiet: bool = True, output: list[str] | None = None, **settings: str
) -> Iterator[LocalApi]:
    """`python -m local_api --port 0 --quiet`, as `make run` starts it, on a free port, with
    two development accounts of its own and `settings` (template variables) as overrides.
    Not `--quiet` when `quiet` is false: it logs each request too. Every line it writes, on
    stdout or stderr, is appended to `output` when given (complete once the block is left).

    Its first stdout line names the URL and the DynamoDB endpoint. The functions log to stdout
    for as long as the server runs, so a reader thread keeps draining it: a full pipe would
    stall the server.
    """
    account, other = new_account_credentials(), new_account_credentials()
    environment = clean_environment(
        NOTIFY_ACCOUNT_SID=account.username,
        NOTIFY_AUTH_TOKEN=account.password,
        NOTIFY_DEV_ACCOUNTS=f"{other.username}:{other.password}",
        **settings,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "local_api", "--port", "0", *(["--quiet"] if quiet else [])],
        cwd=PROJECT_ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    announced: queue.Queue[str] = queue.Queue()  # its first lines, then "" once it exits
    recent: deque[str] = deque(maxlen=50)

    def drain() -> None:
        assert process.stdout is not None
        for number, line in enumerate(process.stdout):
            if number < ANNOUNCEMENT_LINES:
                announced.put(line)
            recent.append(line)
            if output is not None:
                output.append(line)
        announced.put("")

    reader = threading.Thread(target=drain, name="local-api-output", daemon=True)
    reader.start()
    try:
        try:
            banner = announced.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            banner = ""
        match = _BANNER.match(banner)
        if match is None:
            pytest.fail(
                "the local API did not announce its URL; it said:\n" + "".join(recent),
                pytrace=False,
            )
        standins, sqs_url = _rest_of_announcement(announced)
        yield LocalApi(match["url"], match["dynamodb"], account, other, standins, sqs_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(STOP_SECONDS)  # what it wrote last is read too


def _rest_of_announcement(announced: queue.Queue[str]) -> tuple[StandIns | None, str | None]:
    """The stand-ins the rest of the announcement names (printed with the banner, at once),
    and the SQS endpoint named before them."""
    lines = ""
    while (found := _STANDINS.search(lines)) is None:
        try:
            line = announced.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            return None, None
        if not line:
            return None, None
        lines += line
    sqs = _SQS.search(lines)
    return StandIns(**found.groupdict()), None if sqs is None else sqs["url"]


def client_for(base_url: str, credentials: Credentials) -> Any:
    """The official client, aimed at `base_url`, authenticating with `credentials`
    (`Client(api_key_sid, api_key_secret, account_sid)` for an API key)."""
    http_client = TwilioHttpClient(timeout=30)
    # Requests to the loopback server must not go through a proxy named by the environment.
    http_client.session.trust_env = False
    client = Client(
        credentials.username,
        credentials.password,
        credentials.account_sid,
        http_client=http_client,
    )
    client.notify.base_url = base_url
    return client


def delete_quietly(client: Any, service_sid: str) -> None:
    """Delete the Service, if it still exists."""
    try:
        client.notify.v1.services(service_sid).delete()
    except TwilioRestException as error:
        if error.status != 404:
            raise


@dataclass(frozen=True)
class Admin:
    """`scripts/notify-admin --endpoint-url <a local API's DynamoDB> … --json`."""

    endpoint_url: str

    def __call__(self, *arguments: str) -> Any:
        completed = subprocess.run(
            [str(ADMIN_CLI), "--endpoint-url", self.endpoint_url, *arguments, "--json"],
            cwd=PROJECT_ROOT,
            env=clean_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=ADMIN_SECONDS,
            check=False,
        )
        assert completed.returncode == 0, (
            f"notify-admin {' '.join(arguments)} exited {completed.returncode}: {completed.stderr}"
        )
        return json.loads(completed.stdout)

    def create_account(self) -> Credentials:
        created = self("accounts", "create")
        return Credentials(created["sid"], created["auth_token"], created["sid"])

    def rotate_token(self, account_sid: str) -> Credentials:
        """The account with its new auth token."""
        rotated = self("accounts", "rotate-token", account_sid)
        assert rotated["sid"] == account_sid
        return Credentials(account_sid, rotated["auth_token"], account_sid)

    def create_key(self, account_sid: str) -> Credentials:
        key = self("keys", "create", account_sid)
        assert key["account_sid"] == account_sid
        return Credentials(key["sid"], key["secret"], account_sid)

    def revoke_key(self, key_sid: str) -> None:
        assert self("keys", "revoke", key_sid) == {"sid": key_sid, "revoked": True}
