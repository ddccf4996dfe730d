"""A credential's pool of APNs connections against the APNs stand-in, and the TLS context the
provider clients share."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from local_api.standins.apns import ApnsStandIn
from local_api.standins.tls import CertificateAuthority
from notify_bindings.providers import apns as apns_module
from notify_bindings.providers._transport import TlsContext, new_tls_context, shared_tls_context
from notify_bindings.providers.apns import (
    ApnsClient,
    ApnsConnections,
    ApnsNotification,
    apns_tls_context,
)
from notify_bindings.providers.credentials import ApnsTokenKey, parse_apns_certificate
from notify_bindings.providers.outcomes import Disposition, Outcome
from tests.providers.material import DEVICE_TOKEN, TOPIC, Clock

ALERT = {"aps": {"alert": "Hello"}}


def send_many(client: ApnsClient, threads: int, count: int) -> list[Outcome]:
    notifications = [ApnsNotification(f"{i:064x}", ALERT) for i in range(count)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(client.send, notifications))


@pytest.mark.parametrize("size", [1, 4])
def test_given_8_threads_on_one_pool_then_each_send_is_accepted_once_on_at_most_size_connections(
    apns: ApnsStandIn, token_key: ApnsTokenKey, clock: Clock, size: int
):
    connections = ApnsConnections(token_key, size=size, ca_file=apns.ca_file)
    client = ApnsClient(connections, token_key, base_url=apns.base_url, clock=clock)
    try:
        outcomes = send_many(client, threads=8, count=240)
    finally:
        connections.close()

    assert [outcome for outcome in outcomes if not outcome.sent] == []
    accepted = [delivery["device_token"] for delivery in apns.deliveries.all()]
    assert sorted(accepted) == [f"{i:064x}" for i in range(240)]
    assert len({outcome.provider_id for outcome in outcomes}) == 240
    assert apns.connections_accepted <= size
    assert connections.opened == apns.connections_accepted
    # One provider token for the credential, whichever connection carried the send.
    assert {delivery["token_issued_at"] for delivery in apns.deliveries.all()} == {int(clock.now)}


def test_given_one_sender_at_a_time_then_one_connection_is_opened(apns, token_key, clock):
    connections = ApnsConnections(token_key, size=4, ca_file=apns.ca_file)
    client = ApnsClient(connections, token_key, base_url=apns.base_url, clock=clock)
    try:
        outcomes = send_many(client, threads=1, count=20)
    finally:
        connections.close()

    assert all(outcome.sent for outcome in outcomes)
    assert (connections.opened, apns.connections_accepted) == (1, 1)


def test_given_a_certificate_then_its_connections_share_one_context_with_it_loaded(
    apns, monkeypatch
):
    authority = CertificateAuthority("client CA")
    apns.register_client_ca(authority.certificate_pem)
    issued = authority.issue_client(topic="com.example.certified")
    credential = parse_apns_certificate(issued.certificate_pem, issued.private_key_pem)
    made: list[object] = []

    def counted(ca_file: str | None = None) -> TlsContext:
        made.append(ca_file)
        return new_tls_context(ca_file)

    monkeypatch.setattr(apns_module, "new_tls_context", counted)
    connections = ApnsConnections(credential, size=3, ca_file=apns.ca_file)
    client = ApnsClient(connections, credential, base_url=apns.base_url)
    try:
        outcomes = send_many(client, threads=6, count=60)
    finally:
        connections.close()

    assert all(outcome.sent for outcome in outcomes)
    assert {delivery["auth"] for delivery in apns.deliveries.all()} == {"certificate"}
    assert 1 <= apns.connections_accepted <= 3
    assert made == [apns.ca_file]


def test_given_the_pool_closed_while_a_send_waits_then_it_is_retryable_and_never_sent(
    apns, token_key, clock
):
    connections = ApnsConnections(token_key, size=1, ca_file=apns.ca_file)
    client = ApnsClient(connections, token_key, base_url=apns.base_url, clock=clock)
    outcomes: list[Outcome] = []
    with connections.connection():  # the pool's only connection, busy
        waiting = threading.Thread(
            target=lambda: outcomes.append(client.send(ApnsNotification(DEVICE_TOKEN, ALERT)))
        )
        waiting.start()
        waiting.join(timeout=0.2)
        assert waiting.is_alive()
        connections.close()
        waiting.join(timeout=5)

    (outcome,) = outcomes
    assert outcome.disposition is Disposition.RETRY
    assert (outcome.reason, outcome.maybe_accepted) == ("PoolClosed", False)
    assert apns.deliveries.all() == []


def test_given_a_size_out_of_bounds_then_no_pool(token_key):
    for size in (0, 33):
        with pytest.raises(ValueError, match="size"):
            ApnsConnections(token_key, size=size)


def test_token_keys_share_the_process_context_and_a_certificate_gets_its_own(apns, token_key):
    authority = CertificateAuthority("client CA")
    issued = authority.issue_client(topic=TOPIC)
    certificate = parse_apns_certificate(issued.certificate_pem, issued.private_key_pem)

    shared = shared_tls_context(apns.ca_file)

    assert shared_tls_context(apns.ca_file) is shared
    assert apns_tls_context(token_key, apns.ca_file) is shared
    assert shared_tls_context() is not shared  # certifi's CAs, another context
    assert apns_tls_context(certificate, apns.ca_file) is not shared


def test_given_another_thread_chose_other_alpn_protocols_then_a_thread_wraps_with_its_own(
    apns: ApnsStandIn,
):
    """httpcore sets the ALPN protocols on the context just before it wraps a socket: a shared
    context must not hand one thread's choice (http/1.1 only) to another (h2 for APNs)."""
    context = new_tls_context(apns.ca_file)
    context.set_alpn_protocols(["h2"])
    other = threading.Thread(target=context.set_alpn_protocols, args=(["http/1.1"],))
    other.start()
    other.join()
    host, port = apns.base_url.removeprefix("https://").rsplit(":", 1)

    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as wrapped,
    ):
        assert wrapped.selected_alpn_protocol() == "h2"
