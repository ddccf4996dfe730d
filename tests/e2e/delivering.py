"""What the end-to-end delivery tests share: a Service that sends through the local API's
stand-ins, a receiver of delivery callbacks, and what the stand-ins and the notification say."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.e2e.support import Credentials, LocalApi, StandIns

WAIT_SECONDS = 60


class MultiDict(dict[str, list[str]]):
    """A form as twilio's RequestValidator reads one (`getall` for repeated names)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


@dataclass(frozen=True)
class Callback:
    """One POST the receiver was sent: its X-Twilio-Signature, its form, what it answered."""

    signature: str
    form: MultiDict
    status: int


class Receiver(ThreadingHTTPServer):
    """Answers each callback POSTed to it 204, or 503 while `failing` is above 0 (counting
    down); keeps every one of them in `attempts` and those it accepted in `received`, as
    (X-Twilio-Signature, form)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.attempts: list[Callback] = []
        self.failing = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/notify/callbacks"

    @property
    def received(self) -> list[tuple[str, MultiDict]]:
        with self.lock:
            return [(one.signature, one.form) for one in self.attempts if one.status == 204]

    def wait_for_final(self) -> list[Callback]:
        """Every attempt, once a callback saying IsFinal=true was accepted (or the wait is
        over)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if any(form["IsFinal"] == ["true"] for _, form in self.received):
                break
            time.sleep(0.1)
        with self.lock:
            return list(self.attempts)


class _Recorder(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        form = MultiDict(parse_qs(body.decode(), keep_blank_values=True))
        with self.server.lock:
            status = 503 if self.server.failing > 0 else 204
            self.server.failing -= status == 503
            self.server.attempts.append(
                Callback(self.headers.get("X-Twilio-Signature", ""), form, status)
            )
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


def stand_in_deliveries(raw_http: Any, url: str, ca_file: str | None = None) -> list[Any]:
    """What the stand-in at `url` accepted (APNs' is https: its CA file)."""
    answer = raw_http.get(f"{url}/deliveries", timeout=30, verify=ca_file or True)
    assert answer.status_code == 200, answer.text
    deliveries: list[Any] = answer.json()["deliveries"]
    return deliveries


def wait_for_deliveries(raw_http: Any, url: str, auth: tuple[str, str]) -> dict[str, Any]:
    """The notification's `deliveries` once nothing is pending (or when the wait is over)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        fetched = raw_http.get(url, auth=auth, timeout=30)
        assert fetched.status_code == 200, fetched.text
        deliveries: dict[str, Any] = fetched.json()["deliveries"]
        if deliveries["pending"] == 0 or time.monotonic() > deadline:
            return deliveries
        time.sleep(0.2)


def sending_service(
    local_api: LocalApi,
    account: Credentials,
    twilio_client: Any,
    raw_http: Any,
    standins: StandIns,
    friendly_name: str,
) -> str:
    """A Service whose apn, fcm and sms credentials the stand-ins accept: the APNs token key
    (ours: token auth), the FCM service account, and the account itself for SMS (ours:
    SmsCredentialSid), with a Messaging Service to send from. Its SID."""
    auth = (account.username, account.password)
    notify = twilio_client.notify.v1
    apn = raw_http.post(
        f"{local_api.url}/v1/Credentials",
        auth=auth,
        data={
            "Type": "apn",
            "PrivateKey": Path(standins.apns_key_file).read_text(),
            "ApnKeyId": standins.apns_key_id,
            "ApnTeamId": standins.apns_team_id,
            "ApnTopic": standins.apns_topic,
        },
        timeout=30,
    )
    assert apn.status_code == 201, apn.text
    fcm = notify.credentials.create(
        type="fcm", secret=Path(standins.service_account_file).read_text()
    )
    sms = notify.credentials.create(
        type="sms", api_key=account.account_sid, secret=account.password
    )
    service = notify.services.create(
        friendly_name=friendly_name,
        apn_credential_sid=apn.json()["sid"],
        fcm_credential_sid=fcm.sid,
        messaging_service_sid="MG" + secrets.token_hex(16),
    )
    updated = raw_http.post(
        f"{local_api.url}/v1/Services/{service.sid}",
        auth=auth,
        data={"SmsCredentialSid": sms.sid},
        timeout=30,
    )
    assert updated.status_code == 200, updated.text
    return str(service.sid)
