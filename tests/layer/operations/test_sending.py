"""Senders against the APNs, FCM and Twilio Messages stand-ins: each channel, the test-card
addresses, retries, refused credentials and token refresh on an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from local_api.standins.apns import ApnsStandIn
from local_api.standins.fcm import FcmStandIn
from local_api.standins.twilio_messages import TwilioMessagesStandIn
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import Delivery, DeliveryStatus, Notification, Recipient
from notify_bindings.operations import sending
from notify_bindings.operations.sending import Endpoints, Senders
from notify_bindings.platform import deadline
from notify_bindings.providers._transport import DEFAULT_TIMEOUT
from notify_bindings.providers.credentials import (
    parse_apns_token_key,
    parse_service_account,
    parse_twilio_account,
)
from notify_bindings.providers.fcm import fcm_http_client
from notify_bindings.providers.twilio_messages import twilio_http_client
from tests.factories import sample_service
from tests.providers.material import (
    ACCOUNT_SID,
    DEVICE_TOKEN,
    MESSAGING_SERVICE_SID,
    TEAM_ID,
    TOPIC,
    Clock,
    ec_key,
    pem,
    rsa_key,
    service_account_json,
)

MINUTE = 60.0
NOTIFICATION = Notification(
    sid="NT" + "0" * 32,
    account_sid=ACCOUNT_SID,
    service_sid="IS" + "1" * 32,
    date_created=datetime(2026, 12, 5, tzinfo=UTC),
    title="Hello",
    body="World",
    data={"n": 1},
)
SERVICE = sample_service(messaging_service_sid=MESSAGING_SERVICE_SID)
CREDENTIAL_SID = "CR" + "3" * 32


class Monotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def senders(
    apns: ApnsStandIn,
    fcm: FcmStandIn,
    twilio: TwilioMessagesStandIn,
    clock: Clock,
    waits: list[float],
    monotonic: Monotonic,
) -> Iterator[Senders]:
    endpoints = Endpoints(
        apns=apns.base_url,
        apns_sandbox=apns.base_url,
        fcm=fcm.base_url,
        fcm_token=fcm.token_url,
        twilio=twilio.base_url,
        apns_ca_file=apns.ca_file,
    )
    senders = Senders(
        endpoints, clock=clock, monotonic=monotonic, sleep=waits.append, jitter=lambda: 0.5
    )
    yield senders
    senders.close()


def to(kind: BindingType, address: str, credential_sid: str | None = CREDENTIAL_SID) -> Recipient:
    return Recipient(kind, address, "BS" + "4" * 32, credential_sid)


def send(senders: Senders, recipient: Recipient, credential: object) -> Delivery:
    return senders.send(NOTIFICATION, SERVICE, recipient, credential)  # type: ignore[arg-type]


def test_apns_happy_path_sends_the_mapped_payload_with_the_credentials_topic(
    senders, apns, token_key
):
    delivery = send(senders, to(BindingType.APN, DEVICE_TOKEN), token_key)

    assert delivery.status is DeliveryStatus.SENT
    (accepted,) = apns.deliveries.all()
    assert delivery.provider_id == accepted["apns_id"]
    assert accepted["payload"] == {"aps": {"alert": {"title": "Hello", "body": "World"}}, "n": 1}
    assert (accepted["topic"], accepted["push_type"], accepted["priority"]) == (
        TOPIC,
        "alert",
        "10",
    )


@pytest.mark.parametrize("kind", [BindingType.FCM, BindingType.GCM])
def test_fcm_and_gcm_happy_path_sends_a_data_only_v1_message(senders, fcm, service_account, kind):
    delivery = send(senders, to(kind, "device-1"), service_account)

    assert delivery.status is DeliveryStatus.SENT
    (accepted,) = fcm.deliveries.all()
    assert delivery.provider_id == accepted["name"]
    assert accepted["message"]["data"] == {"twi_title": "Hello", "twi_body": "World", "n": "1"}
    assert accepted["message"]["android"]["priority"] == "HIGH"


def test_sms_happy_path_creates_a_message_through_the_messaging_service(
    senders, twilio, twilio_account
):
    delivery = send(senders, to(BindingType.SMS, "+15005550006"), twilio_account)

    assert delivery.status is DeliveryStatus.SENT
    (accepted,) = twilio.deliveries.all()
    assert delivery.provider_id == accepted["sid"]
    assert accepted["sid"].startswith("SM")
    assert (accepted["to"], accepted["body"]) == ("+15005550006", "World")
    assert accepted["messaging_service_sid"] == MESSAGING_SERVICE_SID


def test_a_channels_http_client_is_made_when_a_batch_first_sends_on_it_then_kept(
    monkeypatch, apns, fcm, twilio, clock, token_key, service_account, twilio_account
):
    made: list[str] = []

    def counted(channel, make):
        def factory():
            made.append(channel)
            return make()

        return factory

    monkeypatch.setattr(
        "notify_bindings.operations.sending.fcm_http_client", counted("fcm", fcm_http_client)
    )
    monkeypatch.setattr(
        "notify_bindings.operations.sending.twilio_http_client",
        counted("sms", twilio_http_client),
    )
    endpoints = Endpoints(
        apns=apns.base_url,
        apns_sandbox=apns.base_url,
        fcm=fcm.base_url,
        fcm_token=fcm.token_url,
        twilio=twilio.base_url,
        apns_ca_file=apns.ca_file,
    )
    senders = Senders(endpoints, clock=clock, jitter=lambda: 0.5)
    try:
        assert made == []
        assert send(senders, to(BindingType.APN, DEVICE_TOKEN), token_key).status is (
            DeliveryStatus.SENT
        )
        assert made == []
        for address in ("device-1", "device-2"):
            delivery = send(senders, to(BindingType.FCM, address), service_account)
            assert delivery.status is DeliveryStatus.SENT
        assert made == ["fcm"]
        delivery = send(senders, to(BindingType.SMS, "+15005550006"), twilio_account)
        assert delivery.status is DeliveryStatus.SENT
        assert made == ["fcm", "sms"]
    finally:
        senders.close()


def credential_of(kind: str, token_key, service_account, twilio_account):
    return {"apn": token_key, "fcm": service_account, "sms": twilio_account}[kind]


@pytest.mark.parametrize(
    ("kind", "address", "code"),
    [
        ("apn", "dead" + "0" * 60, 52134),
        ("fcm", "dead-token", 52102),
        ("sms", "+15005550001", 21211),
        ("sms", "+15005550009", 21614),
    ],
)
def test_a_dead_address_fails_with_dead_address_set(
    senders, token_key, service_account, twilio_account, kind, address, code
):
    credential = credential_of(kind, token_key, service_account, twilio_account)

    delivery = send(senders, to(BindingType(kind), address), credential)

    assert (delivery.status, delivery.dead_address, delivery.error_code) == (
        DeliveryStatus.FAILED,
        True,
        code,
    )
    assert delivery.error_message
    assert address not in delivery.error_message


def test_a_bad_apns_token_is_dead_but_a_bad_fcm_token_only_fails(
    senders, token_key, service_account
):
    apns = send(senders, to(BindingType.APN, "bad" + "0" * 61), token_key)
    fcm = send(senders, to(BindingType.FCM, "bad-token"), service_account)

    assert (apns.status, apns.dead_address, apns.error_code) == (DeliveryStatus.FAILED, True, 52134)
    assert (fcm.status, fcm.dead_address) == (DeliveryStatus.FAILED, False)


@pytest.mark.parametrize("kind", ["apn", "fcm"])
def test_a_busy_token_is_retried_after_retry_after_and_sent(
    senders, waits, apns, fcm, token_key, service_account, twilio_account, kind
):
    credential = credential_of(kind, token_key, service_account, twilio_account)
    address = "busy" + "0" * 60

    delivery = send(senders, to(BindingType(kind), address), credential)

    assert delivery.status is DeliveryStatus.SENT
    assert waits == [1.0]  # Retry-After: 1, above the first back-off (0.375 s)
    standin = apns if kind == "apn" else fcm
    assert len(standin.deliveries.all()) == 1


def test_retries_back_off_exponentially_and_stop_at_the_attempt_limit(
    senders, waits, twilio, twilio_account
):
    twilio.faults.set({"fail_next": 10, "fail_status": 500, "retry_after": None})

    delivery = send(senders, to(BindingType.SMS, "+15005550006"), twilio_account)

    assert (delivery.status, delivery.error_code) == (DeliveryStatus.FAILED, 20500)
    assert waits == [0.375, 0.75, 1.5]  # 3/4 of 0.5, 1, 2 with the jitter at 0.5
    assert twilio.deliveries.all() == []


def test_a_connection_lost_before_the_answer_is_retried_at_least_once_delivery(
    senders, waits, fcm, service_account
):
    fcm.faults.set({"drop_next": 1})

    delivery = send(senders, to(BindingType.FCM, "device-1"), service_account)

    assert delivery.status is DeliveryStatus.SENT
    assert len(waits) == 1
    # The dropped request had reached FCM: a lost answer may mean a second copy.
    assert len(fcm.deliveries.all()) == 2


def test_no_retry_that_would_not_end_before_the_deadline(senders, waits, twilio, twilio_account):
    twilio.faults.set({"fail_next": 10, "fail_status": 503, "retry_after": None})

    with deadline.within(5.0):  # less than one more attempt could take
        delivery = send(senders, to(BindingType.SMS, "+15005550006"), twilio_account)

    assert (delivery.status, delivery.error_code) == (DeliveryStatus.FAILED, 20503)
    assert waits == []


def test_an_attempt_is_budgeted_as_long_as_the_provider_clients_may_take():
    connect, read = DEFAULT_TIMEOUT.connect or 0.0, DEFAULT_TIMEOUT.read or 0.0

    assert connect + read <= sending.ATTEMPT_SECONDS
    assert read > 0


def test_a_retry_starts_only_if_an_attempt_and_its_wait_still_fit(
    senders, waits, twilio, twilio_account
):
    twilio.faults.set({"fail_next": 10, "fail_status": 503, "retry_after": None})

    # Room for the first wait (0.375 s) and a whole attempt after it, and no more.
    with deadline.within(sending.ATTEMPT_SECONDS + 0.6):
        delivery = send(senders, to(BindingType.SMS, "+15005550006"), twilio_account)

    assert (delivery.status, delivery.error_code) == (DeliveryStatus.FAILED, 20503)
    assert waits == [0.375]


def test_a_refused_credential_fails_every_later_delivery_at_once_for_a_while(
    senders, apns, monotonic
):
    unknown = parse_apns_token_key(
        pem(ec_key("other")), key_id="KEY0000009", team_id=TEAM_ID, topic=TOPIC
    )

    first = send(senders, to(BindingType.APN, DEVICE_TOKEN), unknown)
    connections = apns.connections_accepted
    later = [send(senders, to(BindingType.APN, DEVICE_TOKEN), unknown) for _ in range(5)]
    monotonic.now += 61
    after_a_while = send(senders, to(BindingType.APN, DEVICE_TOKEN), unknown)

    assert (first.status, first.error_code) == (DeliveryStatus.FAILED, 52149)
    assert {(d.status, d.error_code) for d in later} == {(DeliveryStatus.FAILED, 52149)}
    assert apns.connections_accepted == connections + 1  # only the attempt after a while
    assert after_a_while.error_code == 52149


def test_a_refused_twilio_account_does_not_stop_another_account(senders, twilio, twilio_account):
    wrong = parse_twilio_account(ACCOUNT_SID, auth_token="0" * 32)

    refused = send(senders, to(BindingType.SMS, "+15005550006"), wrong)
    sent = send(senders, to(BindingType.SMS, "+15005550006"), twilio_account)

    assert (refused.status, refused.error_code) == (DeliveryStatus.FAILED, 20003)
    assert sent.status is DeliveryStatus.SENT


def test_apns_provider_token_is_reused_for_20_minutes_and_renewed_before_60(
    senders, apns, token_key, clock
):
    def issued_at() -> int:
        return int(apns.deliveries.all()[-1]["token_issued_at"])

    send(senders, to(BindingType.APN, DEVICE_TOKEN), token_key)
    first = issued_at()
    clock.advance(25 * MINUTE)
    send(senders, to(BindingType.APN, DEVICE_TOKEN), token_key)
    reused = issued_at()
    clock.advance(20 * MINUTE)
    delivery = send(senders, to(BindingType.APN, DEVICE_TOKEN), token_key)

    assert reused == first
    assert delivery.status is DeliveryStatus.SENT
    assert 20 * MINUTE <= issued_at() - first <= 60 * MINUTE


def test_fcm_access_token_is_reused_then_renewed_before_it_expires(
    senders, fcm, service_account, clock
):
    send(senders, to(BindingType.FCM, "device-1"), service_account)
    clock.advance(30 * MINUTE)
    send(senders, to(BindingType.FCM, "device-1"), service_account)
    reused = fcm.tokens_issued
    clock.advance(26 * MINUTE)  # 56 minutes: within 5 minutes of the hour's end
    delivery = send(senders, to(BindingType.FCM, "device-1"), service_account)

    assert reused == 1
    assert delivery.status is DeliveryStatus.SENT
    assert fcm.tokens_issued == 2


@pytest.mark.parametrize(
    ("recipient", "credential", "code"),
    [
        (to(BindingType.APN, DEVICE_TOKEN, credential_sid=None), None, 52004),
        (to(BindingType.APN, DEVICE_TOKEN), None, 52002),
        (to(BindingType.APN, DEVICE_TOKEN), "twilio", 52164),
        (to(BindingType.FCM, "device-1"), "apns", 52164),
        (to(BindingType.FACEBOOK_MESSENGER, "psid"), "twilio", 52001),
        (to(BindingType.ALEXA, "amzn"), "twilio", 52001),
    ],
)
def test_deliveries_that_cannot_be_attempted_fail_with_a_clear_code(
    senders, token_key, twilio_account, recipient, credential, code
):
    given = {"twilio": twilio_account, "apns": token_key, None: None}[credential]

    delivery = send(senders, recipient, given)

    assert (delivery.status, delivery.error_code, delivery.dead_address) == (
        DeliveryStatus.FAILED,
        code,
        False,
    )
    assert delivery.error_message


def test_sms_from_a_service_without_a_messaging_service_fails(senders, twilio, twilio_account):
    delivery = senders.send(
        NOTIFICATION, sample_service(), to(BindingType.SMS, "+15005550006"), twilio_account
    )

    assert (delivery.status, delivery.error_code) == (DeliveryStatus.FAILED, 21603)
    assert twilio.deliveries.all() == []


def test_a_payload_over_4_kb_fails_without_being_sent(
    senders, apns, fcm, token_key, service_account
):
    big = Notification(
        sid=NOTIFICATION.sid,
        account_sid=ACCOUNT_SID,
        service_sid=NOTIFICATION.service_sid,
        date_created=NOTIFICATION.date_created,
        body="x" * 5000,
    )

    apns_delivery = senders.send(big, SERVICE, to(BindingType.APN, DEVICE_TOKEN), token_key)
    fcm_delivery = senders.send(big, SERVICE, to(BindingType.FCM, "device-1"), service_account)

    assert (apns_delivery.status, apns_delivery.error_code) == (DeliveryStatus.FAILED, 52138)
    assert (fcm_delivery.status, fcm_delivery.error_code) == (DeliveryStatus.FAILED, 52106)
    assert apns.deliveries.all() == fcm.deliveries.all() == []


def test_one_apns_connection_serves_many_deliveries(senders, apns, token_key):
    for _ in range(5):
        send(senders, to(BindingType.APN, DEVICE_TOKEN), token_key)

    assert apns.connections_accepted == 1


@pytest.mark.parametrize("connections", [2, 4])
def test_deliveries_sent_from_8_threads_go_once_each_over_at_most_apns_connections(
    apns, fcm, twilio, token_key, clock, connections
):
    endpoints = Endpoints(
        apns=apns.base_url,
        apns_sandbox=apns.base_url,
        fcm=fcm.base_url,
        fcm_token=fcm.token_url,
        twilio=twilio.base_url,
        apns_ca_file=apns.ca_file,
    )
    senders = Senders(
        endpoints,
        clock=clock,
        apns_connections=connections,
    )
    addresses = [f"{i:064x}" for i in range(160)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            deliveries = list(
                pool.map(lambda a: send(senders, to(BindingType.APN, a), token_key), addresses)
            )
        held = senders.apns_connections_open()
    finally:
        senders.close()

    assert {delivery.status for delivery in deliveries} == {DeliveryStatus.SENT}
    assert sorted(d["device_token"] for d in apns.deliveries.all()) == addresses
    assert 1 <= apns.connections_accepted <= connections
    assert held == apns.connections_accepted


def test_an_updated_credential_gets_a_new_client(senders, twilio):
    old = parse_twilio_account(ACCOUNT_SID, auth_token="fedcba9876543210" * 2)
    new = parse_twilio_account(ACCOUNT_SID, auth_token="a" * 32)
    assert send(senders, to(BindingType.SMS, "+15005550006"), old).status is DeliveryStatus.SENT

    twilio.register_account(ACCOUNT_SID, "a" * 32)  # the auth token rotated

    assert send(senders, to(BindingType.SMS, "+15005550006"), new).status is DeliveryStatus.SENT


def test_a_service_account_the_token_endpoint_refuses_fails_fast_without_retries(
    senders, fcm, waits
):
    unknown = parse_service_account(service_account_json(rsa_key("unknown"), client_email="x@y.z"))

    deliveries = [send(senders, to(BindingType.FCM, "device-1"), unknown) for _ in range(3)]

    assert {(d.status, d.error_code) for d in deliveries} == {(DeliveryStatus.FAILED, 52005)}
    assert (fcm.tokens_issued, waits, fcm.deliveries.all()) == (0, [], [])
