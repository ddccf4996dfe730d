"""A notification delivered end to end through the local pipeline: created with the official
twilio-python client, resolved and delivered by the local API's functions through the real
APNs, FCM and Twilio Messages clients to the stand-ins `make run` starts, a dead token's
binding removed, and the delivery callbacks posted signed to a receiver on loopback."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from twilio.request_validator import RequestValidator

from tests.e2e.support import Credentials, LocalApi, StandIns

WAIT_SECONDS = 60


class MultiDict(dict[str, list[str]]):
    """A form as twilio's RequestValidator reads one (`getall` for repeated names)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


class Receiver(ThreadingHTTPServer):
    """Records each callback POSTed to it: (its X-Twilio-Signature, its form)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.received: list[tuple[str, MultiDict]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/notify/callbacks"


class _Recorder(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        form = MultiDict(parse_qs(body.decode(), keep_blank_values=True))
        self.server.received.append((self.headers.get("X-Twilio-Signature", ""), form))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def standins(local_api: LocalApi) -> StandIns:
    assert local_api.standins is not None, "the local API did not announce its stand-ins"
    return local_api.standins


def stand_in_deliveries(raw_http: Any, url: str, ca_file: str | None = None) -> list[Any]:
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


def test_given_apn_fcm_and_sms_bindings_when_notified_then_each_provider_gets_it_once_and_a_signed_callback_says_so(  # noqa: E501
    local_api: LocalApi,
    account: Credentials,
    twilio_client: Any,
    raw_http: Any,
    standins: StandIns,
    receiver: Receiver,
) -> None:
    auth = (account.username, account.password)
    notify = twilio_client.notify.v1
    # Ours: APNs token auth (the stand-in accepts its development key).
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
        friendly_name="e2e delivery",
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
    identity = f"alice-{secrets.token_hex(4)}"
    apn_token, dead_token = secrets.token_hex(32), "dead" + secrets.token_hex(30)
    fcm_token = "fcm" + secrets.token_hex(40)
    phone = "+1555" + str(secrets.randbelow(10**7)).zfill(7)
    bindings = notify.services(service.sid).bindings
    for binding_type, address in (
        ("apn", apn_token),
        ("apn", dead_token),
        ("fcm", fcm_token),
        ("sms", phone),
    ):
        bindings.create(identity=identity, binding_type=binding_type, address=address)

    notification = notify.services(service.sid).notifications.create(
        identity=[identity], body="Hi", title="Hello", delivery_callback_url=receiver.url
    )

    url = f"{local_api.url}/v1/Services/{service.sid}/Notifications/{notification.sid}"
    assert wait_for_deliveries(raw_http, url, auth) == {
        "total": 4,
        "sent": 3,
        "failed": 1,
        "pending": 0,
        "dead_bindings_removed": 1,
    }
    to_apns = [
        delivery
        for delivery in stand_in_deliveries(raw_http, standins.apns_url, standins.apns_ca_file)
        if delivery["device_token"] in (apn_token, dead_token)
    ]
    assert [(d["device_token"], d["topic"]) for d in to_apns] == [(apn_token, standins.apns_topic)]
    assert to_apns[0]["payload"]["aps"]["alert"] == {"title": "Hello", "body": "Hi"}
    to_fcm = [
        delivery
        for delivery in stand_in_deliveries(raw_http, standins.fcm_url)
        if delivery.get("token") == fcm_token
    ]
    assert len(to_fcm) == 1
    assert to_fcm[0]["message"]["data"]["twi_body"] == "Hi"
    to_twilio = [
        delivery
        for delivery in stand_in_deliveries(raw_http, standins.twilio_url)
        if delivery["to"] == phone
    ]
    assert [(d["account_sid"], d["body"]) for d in to_twilio] == [(account.account_sid, "Hi")]
    remaining = bindings.list(identity=[identity])
    assert sorted(binding.address for binding in remaining) == sorted([apn_token, fcm_token, phone])
    # The callbacks: signed with the account's auth token, together every delivery once.
    validator = RequestValidator(account.password)
    assert receiver.received
    assert all(
        validator.validate(receiver.url, form, signature) for signature, form in receiver.received
    )
    states = [json.loads(state) for _, form in receiver.received for state in form["DeliveryState"]]
    assert sorted(state["status"] for state in states) == ["FAILED", "SENT", "SENT", "SENT"]
    (failed,) = [state for state in states if state["status"] == "FAILED"]
    assert failed["binding_type"] == "apn"
    assert [form["IsFinal"] for _, form in receiver.received][-1] == ["true"]
    assert all(address not in json.dumps(states) for address in (apn_token, dead_token, phone))
    notify.services(service.sid).delete()
