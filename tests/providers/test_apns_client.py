"""The APNs client against the APNs stand-in, over HTTP/2 and TLS on loopback."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from local_api.standins.apns import ApnsStandIn
from local_api.standins.tls import CertificateAuthority
from notify_bindings.providers.apns import (
    PRODUCTION_URL,
    SANDBOX_URL,
    ApnsClient,
    ApnsNotification,
    ProviderTokens,
    apns_http_client,
)
from notify_bindings.providers.credentials import (
    ApnsCertificate,
    ApnsTokenKey,
    parse_apns_certificate,
    parse_apns_token_key,
)
from notify_bindings.providers.outcomes import Disposition, Outcome
from tests.providers.material import (
    DEVICE_TOKEN,
    KEY_ID,
    OTHER_TEAM_ID,
    TEAM_ID,
    TOPIC,
    Clock,
    ec_key,
    pem,
)

ALERT = {"aps": {"alert": {"title": "Hello", "body": "World"}}}
MINUTE = 60.0


@pytest.fixture
def client(apns: ApnsStandIn, token_key: ApnsTokenKey, clock: Clock) -> Iterator[ApnsClient]:
    with apns_http_client(token_key, ca_file=apns.ca_file) as http:
        yield ApnsClient(http, token_key, base_url=apns.base_url, clock=clock)


def send(client: ApnsClient, token: str = DEVICE_TOKEN, **fields) -> Outcome:
    return client.send(ApnsNotification(token, fields.pop("payload", ALERT), **fields))


def issued_at(apns: ApnsStandIn) -> list[int]:
    return [delivery["token_issued_at"] for delivery in apns.deliveries.all()]


def test_given_a_notification_with_every_header_then_apns_receives_them(client, apns):
    apns_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

    outcome = send(
        client,
        push_type="background",
        priority=5,
        expiration=1_900_000_000,
        collapse_id="news",
        apns_id=apns_id,
        payload={"aps": {"content-available": 1}, "custom": "x"},
    )

    assert outcome == Outcome.delivered(apns_id, status=200)
    (delivery,) = apns.deliveries.all()
    assert delivery["device_token"] == DEVICE_TOKEN
    assert delivery["topic"] == TOPIC
    assert (delivery["push_type"], delivery["priority"], delivery["expiration"]) == (
        "background",
        "5",
        "1900000000",
    )
    assert (delivery["collapse_id"], delivery["apns_id"]) == ("news", apns_id)
    assert (delivery["auth"], delivery["key_id"], delivery["team_id"]) == ("token", KEY_ID, TEAM_ID)
    assert delivery["payload"] == {"aps": {"content-available": 1}, "custom": "x"}


def test_given_no_apns_id_then_the_one_apns_made_is_returned(client, apns):
    outcome = send(client)

    assert outcome.sent
    assert outcome.provider_id == apns.deliveries.all()[0]["apns_id"]
    assert len(outcome.provider_id or "") == 36


def test_given_a_topic_on_the_notification_then_it_overrides_the_credentials(client, apns):
    apns.register_token_key(KEY_ID, TEAM_ID, ec_key().public_key(), [TOPIC, TOPIC + ".voip"])

    assert send(client, topic=TOPIC + ".voip", push_type="voip").sent
    assert apns.deliveries.all()[0]["topic"] == TOPIC + ".voip"


@pytest.mark.parametrize(
    ("token", "reason", "status"),
    [
        ("deadbeef01", "Unregistered", 410),
        ("bad0001", "BadDeviceToken", 400),
        ("other0001", "DeviceTokenNotForTopic", 400),
    ],
)
def test_given_a_dead_device_token_then_the_address_is_dead(client, apns, token, reason, status):
    outcome = send(client, token)

    assert outcome.disposition is Disposition.DEAD_ADDRESS
    assert (outcome.reason, outcome.status, outcome.error_code) == (reason, status, 52134)
    assert token not in (outcome.error_message or "")
    assert apns.deliveries.all() == []


def test_given_a_busy_token_then_retry_after_the_seconds_apns_named_and_then_sent(client):
    first, second = send(client, "busy01"), send(client, "busy01")

    assert first.disposition is Disposition.RETRY
    assert (first.retry_after, first.status, first.error_code) == (1.0, 503, 52144)
    assert not first.maybe_accepted
    assert second.sent


def test_given_a_payload_over_4096_bytes_then_failed_without_a_request(client, apns):
    payload = {"aps": {"alert": "x" * 4100}}

    outcome = send(client, payload=payload)

    assert outcome.disposition is Disposition.FAILED
    assert (outcome.error_code, outcome.reason, outcome.status) == (52138, "PayloadTooLarge", None)
    assert apns.connections_accepted == 0


def test_given_a_voip_payload_of_5000_bytes_then_it_fits_voips_larger_limit(client, apns):
    apns.register_token_key(KEY_ID, TEAM_ID, ec_key().public_key(), [TOPIC, TOPIC + ".voip"])
    payload = {"aps": {}, "call": "x" * (5000 - len('{"aps":{},"call":""}'))}
    assert len(json.dumps(payload, separators=(",", ":"))) == 5000

    assert send(client, payload=payload, push_type="voip", topic=TOPIC + ".voip").sent
    assert send(client, payload=payload).disposition is Disposition.FAILED


@pytest.mark.parametrize("token", ["", "../../deliveries", "00ff 00ff", "a" * 201])
def test_given_a_token_that_cannot_be_a_path_then_failed_without_a_request(client, apns, token):
    outcome = send(client, token)

    assert (outcome.disposition, outcome.error_code) == (Disposition.FAILED, 52142)
    assert apns.connections_accepted == 0


def test_given_sends_over_two_hours_then_a_token_is_reused_at_least_20_and_at_most_60_minutes(
    client, apns, clock
):
    sent_at = []
    for _ in range(125):
        assert send(client).sent
        sent_at.append(clock.now)
        clock.advance(MINUTE)

    issued = sorted(set(issued_at(apns)))
    assert len(issued) >= 3
    assert all(later - earlier >= 20 * MINUTE for earlier, later in itertools.pairwise(issued))
    ages = [sent - iat for sent, iat in zip(sent_at, issued_at(apns), strict=True)]
    assert min(ages) >= 0
    assert max(ages) < 60 * MINUTE


def test_given_the_default_refresh_then_a_token_is_renewed_at_40_minutes(client, apns, clock):
    send(client)
    clock.advance(39 * MINUTE)
    send(client)
    clock.advance(1 * MINUTE)
    send(client)

    assert issued_at(apns) == [int(clock.now - 40 * MINUTE)] * 2 + [int(clock.now)]


@pytest.mark.parametrize("minutes", [19, 61])
def test_given_a_refresh_period_outside_20_to_60_minutes_then_it_is_refused(token_key, minutes):
    with pytest.raises(ValueError, match="20 and 60"):
        ProviderTokens(token_key, refresh_after=minutes * MINUTE)


def test_given_apns_says_the_token_expired_then_one_fresh_token_is_sent_once(
    apns, token_key, clock
):
    apns_clock = Clock(clock.now)
    with (
        ApnsStandIn(clock=apns_clock) as ahead,
        apns_http_client(token_key, ca_file=ahead.ca_file) as http,
    ):
        ahead.register_token_key(KEY_ID, TEAM_ID, ec_key().public_key(), [TOPIC])
        client = ApnsClient(http, token_key, base_url=ahead.base_url, clock=clock)
        assert send(client).sent
        # APNs' clock runs an hour ahead of ours: it finds our 10-minute-old token expired.
        clock.advance(10 * MINUTE)
        apns_clock.advance(61 * MINUTE)

        outcome = send(client)

        assert outcome.sent
        assert issued_at(ahead) == [int(clock.now - 10 * MINUTE), int(clock.now)]


def test_given_apns_finds_even_the_fresh_token_expired_then_the_credential_is_refused(
    token_key, clock
):
    with (
        ApnsStandIn(clock=Clock(clock.now + 2 * 3600)) as ahead,
        apns_http_client(token_key, ca_file=ahead.ca_file) as http,
    ):
        ahead.register_token_key(KEY_ID, TEAM_ID, ec_key().public_key(), [TOPIC])
        client = ApnsClient(http, token_key, base_url=ahead.base_url, clock=clock)

        outcome = send(client)

    assert outcome.disposition is Disposition.CREDENTIAL_REFUSED
    assert (outcome.reason, outcome.status, outcome.error_code) == (
        "ExpiredProviderToken",
        403,
        52148,
    )


@pytest.mark.parametrize(
    ("key_id", "team_id"),
    [("KEY9999999", TEAM_ID), (KEY_ID, OTHER_TEAM_ID)],
    ids=["unknown key", "another team"],
)
def test_given_a_token_apns_does_not_accept_then_the_credential_is_refused(
    apns, clock, key_id, team_id
):
    key = parse_apns_token_key(pem(ec_key()), key_id=key_id, team_id=team_id, topic=TOPIC)
    with apns_http_client(key, ca_file=apns.ca_file) as http:
        outcome = ApnsClient(http, key, base_url=apns.base_url, clock=clock).send(
            ApnsNotification(DEVICE_TOKEN, ALERT)
        )

    assert outcome.disposition is Disposition.CREDENTIAL_REFUSED
    assert (outcome.reason, outcome.error_code) == ("InvalidProviderToken", 52149)


def test_given_a_topic_the_key_may_not_use_then_failed(client):
    outcome = send(client, topic="com.example.other")

    assert outcome.disposition is Disposition.FAILED
    assert (outcome.reason, outcome.status, outcome.error_code) == ("TopicDisallowed", 400, 52000)


# --- certificate authentication ------------------------------------------------------------


@pytest.fixture
def authority(apns: ApnsStandIn) -> CertificateAuthority:
    authority = CertificateAuthority("client CA")
    apns.register_client_ca(authority.certificate_pem)
    return authority


def certificate_send(
    apns: ApnsStandIn, credential: ApnsCertificate, notification: ApnsNotification
) -> Outcome:
    with apns_http_client(credential, ca_file=apns.ca_file) as http:
        return ApnsClient(http, credential, base_url=apns.base_url).send(notification)


def test_given_a_certificate_then_its_uid_is_the_topic_and_no_token_is_sent(apns, authority):
    issued = authority.issue_client(topic="com.example.certified")
    credential = parse_apns_certificate(issued.certificate_pem, issued.private_key_pem)

    outcome = certificate_send(apns, credential, ApnsNotification(DEVICE_TOKEN, ALERT))

    assert outcome.sent
    (delivery,) = apns.deliveries.all()
    assert (delivery["auth"], delivery["topic"]) == ("certificate", "com.example.certified")
    assert "UID=com.example.certified" in delivery["certificate_subject"]


def test_given_a_certificate_of_a_ca_apns_does_not_trust_then_the_credential_is_refused(
    apns, authority
):
    issued = CertificateAuthority("unknown CA").issue_client(topic=TOPIC)
    credential = parse_apns_certificate(issued.certificate_pem, issued.private_key_pem)

    outcome = certificate_send(apns, credential, ApnsNotification(DEVICE_TOKEN, ALERT))

    assert outcome.disposition is Disposition.CREDENTIAL_REFUSED
    assert outcome.error_code == 52145
    assert apns.deliveries.all() == []


def test_given_a_development_certificate_against_production_then_the_credential_is_refused(
    apns, authority
):
    issued = authority.issue_client(
        topic=TOPIC, common_name=f"Apple Development IOS Push Services: {TOPIC}"
    )
    credential = parse_apns_certificate(issued.certificate_pem, issued.private_key_pem)

    outcome = certificate_send(apns, credential, ApnsNotification(DEVICE_TOKEN, ALERT))

    assert outcome.disposition is Disposition.CREDENTIAL_REFUSED
    assert (outcome.reason, outcome.error_code) == ("BadCertificateEnvironment", 52131)


def test_given_the_defaults_then_the_client_talks_to_apples_hosts(token_key):
    with httpx.Client() as http:
        assert ApnsClient(http, token_key).base_url == PRODUCTION_URL
        assert ApnsClient(http, token_key, sandbox=True).base_url == SANDBOX_URL


# --- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [(503, "ServiceUnavailable"), (500, "InternalServerError"), (429, "TooManyRequests")],
)
def test_given_apns_failing_then_retry_with_its_retry_after(client, apns, status, reason):
    apns.faults.set({"fail_next": 1, "fail_status": status, "retry_after": 7})

    outcome = send(client)

    assert outcome.disposition is Disposition.RETRY
    assert (outcome.status, outcome.reason, outcome.retry_after) == (status, reason, 7.0)
    assert not outcome.maybe_accepted
    assert send(client).sent


def test_given_the_connection_dropped_after_the_request_then_retry_as_maybe_accepted(client, apns):
    apns.faults.set({"drop_next": 1})

    outcome = send(client)

    assert outcome.disposition is Disposition.RETRY
    assert outcome.maybe_accepted
    assert [d["dropped"] for d in apns.deliveries.all()] == [True]
    assert send(client).sent  # on a new connection
    assert apns.connections_accepted == 2


def test_given_an_answer_slower_than_the_timeout_then_retry_as_maybe_accepted(
    apns, token_key, clock
):
    apns.faults.set({"delay_next": 1, "delay_seconds": 1.0})
    timeout = httpx.Timeout(0.3, connect=2.0)
    with apns_http_client(token_key, ca_file=apns.ca_file, timeout=timeout) as http:
        client = ApnsClient(http, token_key, base_url=apns.base_url, clock=clock, timeout=timeout)

        outcome = send(client)

        assert outcome.disposition is Disposition.RETRY
        assert (outcome.reason, outcome.maybe_accepted) == ("ReadTimeout", True)
        assert send(client).sent


def test_given_nothing_listening_then_retry_and_nothing_was_sent(token_key, apns):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with apns_http_client(token_key, ca_file=apns.ca_file) as http:
        client = ApnsClient(http, token_key, base_url=f"https://127.0.0.1:{port}")

        outcome = send(client)

    assert outcome.disposition is Disposition.RETRY
    assert (outcome.reason, outcome.maybe_accepted) == ("ConnectError", False)


def test_given_one_client_shared_by_threads_then_each_send_is_sent_on_its_one_connection(
    client, apns
):
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda i: send(client, f"{i:064x}"), range(100)))

    assert [outcome for outcome in outcomes if not outcome.sent] == []
    assert len({outcome.provider_id for outcome in outcomes}) == 100
    assert apns.connections_accepted == 1


def test_given_a_client_per_thread_sharing_tokens_then_each_connection_shows_the_same_token(
    apns, token_key, clock
):
    tokens = ProviderTokens(token_key, clock=clock)
    https = [apns_http_client(token_key, ca_file=apns.ca_file) for _ in range(4)]
    clients = [ApnsClient(http, token_key, base_url=apns.base_url, tokens=tokens) for http in https]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(
                pool.map(lambda i: send(clients[i % 4], f"{i:064x}"), range(200), chunksize=50)
            )
    finally:
        for http in https:
            http.close()

    assert [outcome for outcome in outcomes if not outcome.sent] == []
    assert apns.connections_accepted == 4
    assert set(issued_at(apns)) == {int(clock.now)}
