"""Delivery callbacks posted to a receiver on 127.0.0.1, checked with twilio's RequestValidator."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from twilio.request_validator import RequestValidator

from local_api.standins.tls import CertificateAuthority
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import (
    Delivery,
    DeliveryStatus,
    Notification,
    Recipient,
)
from notify_bindings.operations.callbacks import (
    DeliveryCallbacks,
    callback_params,
    callback_url,
)
from notify_bindings.platform import deadline
from notify_bindings.providers.webhooks import CallbackPoster
from tests.factories import sample_service

AUTH_TOKEN = "fedcba9876543210" * 2
ADDRESS = "+15005550006"


class MultiDict(dict[str, list[str]]):
    def getall(self, name: str) -> list[str]:
        return self[name]


class Receiver(ThreadingHTTPServer):
    """Records each POST (path, headers, form); answers the statuses queued, then 200."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[str, dict[str, str], MultiDict]] = []
        self.statuses: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/callbacks?customer=42"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        form = MultiDict(parse_qs(body.decode(), keep_blank_values=True))
        self.server.received.append((self.path, dict(self.headers.items()), form))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
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
def waits() -> list[float]:
    return []


@pytest.fixture
def callbacks(waits: list[float]) -> Iterator[DeliveryCallbacks]:
    poster = CallbackPoster(allow_local=True)
    yield DeliveryCallbacks(poster, sleep=waits.append, jitter=lambda: 0.0)
    poster.close()


def notification(url: str | None) -> Notification:
    return Notification(
        sid="NT" + "1" * 32,
        account_sid="AC" + "2" * 32,
        service_sid="IS" + "3" * 32,
        date_created=datetime(2026, 12, 5, tzinfo=UTC),
        body="Hi",
        delivery_callback_url=url,
    )


SENT = Delivery(
    Recipient(BindingType.SMS, ADDRESS, "BS" + "4" * 32),
    DeliveryStatus.SENT,
    provider_id="SM" + "5" * 32,
)
FAILED = Delivery(
    Recipient(BindingType.FCM, "dead-token", "BS" + "6" * 32),
    DeliveryStatus.FAILED,
    error_code=52102,
    error_message="Invalid or unregistered FCM registration token",
    dead_address=True,
)


def test_deliveries_are_posted_signed_as_twilio_signs_and_never_name_the_address(
    receiver, callbacks
):
    report = callbacks.report(
        notification(receiver.url), sample_service(), [SENT, FAILED], auth_token=AUTH_TOKEN
    )

    assert (report.accepted, report.failed, report.next_sequence) == (1, 0, 1)
    ((path, headers, form),) = receiver.received
    assert path == "/callbacks?customer=42"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert RequestValidator(AUTH_TOKEN).validate(receiver.url, form, headers["X-Twilio-Signature"])
    assert not RequestValidator("0" * 32).validate(
        receiver.url, form, headers["X-Twilio-Signature"]
    )
    assert {name: form[name] for name in form if name != "DeliveryState"} == {
        "NotificationSid": ["NT" + "1" * 32],
        "AccountSid": ["AC" + "2" * 32],
        "ServiceSid": ["IS" + "3" * 32],
        "Count": ["2"],
        "SequenceId": ["0"],
        "IsFinal": ["true"],
    }
    assert [json.loads(state) for state in form["DeliveryState"]] == [
        {
            "sid": "SM" + "5" * 32,
            "binding_sid": "BS" + "4" * 32,
            "binding_type": "sms",
            "status": "SENT",
            "error_code": None,
            "error_message": None,
        },
        {
            "sid": None,
            "binding_sid": "BS" + "6" * 32,
            "binding_type": "fcm",
            "status": "FAILED",
            "error_code": 52102,
            "error_message": "Invalid or unregistered FCM registration token",
        },
    ]
    assert ADDRESS not in str(form)
    assert "dead-token" not in str(form)


def test_more_than_1000_deliveries_are_split_and_only_the_last_is_final():
    batches = callback_params(notification("https://x.example/cb"), [SENT] * 2500, first_sequence=3)

    assert [(b["Count"], b["SequenceId"], b["IsFinal"]) for b in batches] == [
        ("1000", "3", "false"),
        ("1000", "4", "false"),
        ("500", "5", "true"),
    ]
    assert [len(b["DeliveryState"]) for b in batches] == [1000, 1000, 500]


def test_a_batch_that_is_not_the_last_is_not_final():
    (batch,) = callback_params(notification("https://x.example/cb"), [SENT], final=False)

    assert batch["IsFinal"] == "false"


def test_no_deliveries_and_final_is_one_empty_final_callback():
    (batch,) = callback_params(notification("https://x.example/cb"), [])

    assert (batch["Count"], batch["IsFinal"], batch["DeliveryState"]) == ("0", "true", [])


def test_a_failing_receiver_is_retried_with_back_off_until_it_accepts(receiver, callbacks, waits):
    receiver.statuses = [503, 500]

    report = callbacks.report(
        notification(receiver.url), sample_service(), [SENT], auth_token=AUTH_TOKEN
    )

    assert (report.accepted, report.failed) == (1, 0)
    assert len(receiver.received) == 3
    assert waits == [0.5, 1.0]


def test_a_receiver_that_keeps_failing_is_given_up_with_52311(receiver, callbacks, waits):
    receiver.statuses = [503] * 10

    report = callbacks.report(
        notification(receiver.url), sample_service(), [SENT], auth_token=AUTH_TOKEN
    )

    assert (report.accepted, report.failed, report.error_code) == (0, 1, 52311)
    assert len(receiver.received) == 3
    assert report.reason == "HTTP 503"


def test_a_4xx_is_not_retried(receiver, callbacks):
    receiver.statuses = [404]

    report = callbacks.report(
        notification(receiver.url), sample_service(), [SENT], auth_token=AUTH_TOKEN
    )

    assert (report.failed, len(receiver.received)) == (1, 1)


def test_no_retry_past_the_deadline(receiver, callbacks, waits):
    receiver.statuses = [503] * 10

    with deadline.within(3.0):
        report = callbacks.report(
            notification(receiver.url), sample_service(), [SENT], auth_token=AUTH_TOKEN
        )

    assert (report.failed, len(receiver.received), waits) == (1, 1, [])


def test_in_a_deployment_a_loopback_url_is_never_called(receiver, waits):
    deployed = DeliveryCallbacks(CallbackPoster(allow_local=False), sleep=waits.append)

    report = deployed.report(
        notification(receiver.url), sample_service(), [SENT], auth_token=AUTH_TOKEN
    )

    assert (report.failed, report.reason) == (1, "callback URLs must be https")
    assert receiver.received == []


def test_a_receiver_that_is_down_counts_as_failed_after_the_retries(callbacks, waits):
    report = callbacks.report(
        notification("http://127.0.0.1:9/cb"), sample_service(), [SENT], auth_token=AUTH_TOKEN
    )

    assert (report.failed, len(waits)) == (1, 2)


def test_the_notifications_url_wins_else_the_services_when_enabled():
    service = sample_service(delivery_callback_url="https://s.example/cb")
    enabled = sample_service(
        delivery_callback_url="https://s.example/cb", delivery_callback_enabled=True
    )

    assert callback_url(notification("https://n.example/cb"), enabled) == "https://n.example/cb"
    assert callback_url(notification(None), enabled) == "https://s.example/cb"
    assert callback_url(notification(None), service) is None


def test_without_a_url_nothing_is_posted(callbacks):
    report = callbacks.report(notification(None), sample_service(), [SENT], auth_token=AUTH_TOKEN)

    assert (report.accepted, report.failed, report.next_sequence) == (0, 0, 1)


def test_the_poster_connects_to_the_address_it_checked_and_keeps_the_host_name(receiver):
    port = receiver.server_address[1]
    asked: list[str] = []

    def resolve(host: str, _: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    poster = CallbackPoster(allow_local=True, resolve=resolve)
    url = f"http://hooks.example.test:{port}/cb"
    answer = poster.post(url, AUTH_TOKEN, {"Count": "0"})
    poster.close()

    assert answer.accepted
    assert asked == ["hooks.example.test"]  # resolved once: the connection used that answer
    ((_, headers, form),) = receiver.received
    assert headers["Host"] == f"hooks.example.test:{port}"
    assert RequestValidator(AUTH_TOKEN).validate(url, form, headers["X-Twilio-Signature"])


class TlsReceiver(Receiver):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self._context = context

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        return self._context.wrap_socket(sock, server_side=True), address


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[TlsReceiver, ssl.SSLContext]]:
    authority = CertificateAuthority("callback receiver CA")
    issued = authority.issue_server(("localhost",))
    chain = tmp_path / "receiver.pem"
    chain.write_bytes(issued.certificate_pem + issued.private_key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(chain)
    client_context = ssl.create_default_context(cadata=authority.certificate_pem.decode())
    server = TlsReceiver(server_context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, client_context
    server.shutdown()
    server.server_close()


def test_over_https_the_pinned_address_is_verified_as_the_host_name(tls_receiver):
    server, trusted = tls_receiver
    port = server.server_address[1]
    poster = CallbackPoster(allow_local=True, resolve=lambda host, _: ["127.0.0.1"], verify=trusted)

    named = poster.post(f"https://localhost:{port}/cb", AUTH_TOKEN, {"Count": "0"})
    other = poster.post(f"https://hooks.example.test:{port}/cb", AUTH_TOKEN, {"Count": "0"})
    poster.close()

    assert named.accepted  # the certificate names localhost: the TLS server name sent
    assert (other.status, other.retryable) == (None, True)  # it does not name this host
    assert len(server.received) == 1
