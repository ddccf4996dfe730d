"""The Twilio Messages client against the Twilio Messages stand-in, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local_api.standins.twilio_messages import TwilioMessagesStandIn
from notify_bindings.providers.credentials import TwilioAccount, parse_twilio_account
from notify_bindings.providers.outcomes import Disposition
from notify_bindings.providers.twilio_messages import TwilioMessagesClient, twilio_http_client
from tests.providers.material import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    MESSAGING_SERVICE_SID,
)

TO = "+15551230001"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with twilio_http_client() as client:
        yield client


@pytest.fixture
def client(http, twilio: TwilioMessagesStandIn, twilio_account: TwilioAccount):
    return TwilioMessagesClient(http, twilio_account, endpoint=twilio.base_url)


def send(client: TwilioMessagesClient, to: str = TO, **fields):
    fields.setdefault("body", "Hello")
    return client.send(to=to, messaging_service_sid=MESSAGING_SERVICE_SID, **fields)


def test_given_a_message_then_twilio_creates_it_with_every_parameter(client, twilio):
    outcome = send(
        client,
        media_urls=["https://example.com/a.png", "https://example.com/b.png"],
        status_callback="https://example.com/status",
        max_price="0.05",
    )

    assert outcome.sent
    assert outcome.status == 201
    (delivery,) = twilio.deliveries.all()
    assert outcome.provider_id == delivery["sid"]
    assert delivery["account_sid"] == ACCOUNT_SID
    assert (delivery["to"], delivery["messaging_service_sid"], delivery["body"]) == (
        TO,
        MESSAGING_SERVICE_SID,
        "Hello",
    )
    assert delivery["media_urls"] == ["https://example.com/a.png", "https://example.com/b.png"]
    assert (delivery["status_callback"], delivery["max_price"]) == (
        "https://example.com/status",
        "0.05",
    )


def test_given_an_api_key_then_it_authenticates_for_the_account(http, twilio):
    account = parse_twilio_account(
        ACCOUNT_SID, api_key_sid=API_KEY_SID, api_key_secret=API_KEY_SECRET
    )
    client = TwilioMessagesClient(http, account, endpoint=twilio.base_url)

    assert send(client).sent
    assert twilio.deliveries.all()[0]["username"] == API_KEY_SID


def test_given_media_without_a_body_then_it_is_sent(client):
    assert send(client, body=None, media_urls=["https://example.com/a.png"]).sent


@pytest.mark.parametrize(
    ("to", "code"),
    [("+15005550001", 21211), ("+15005550009", 21614), ("0044 20 7946 0000", 21211)],
)
def test_given_a_number_twilio_cannot_send_to_then_the_address_is_dead(client, to, code):
    outcome = send(client, to)

    assert outcome.disposition is Disposition.DEAD_ADDRESS
    assert (outcome.status, outcome.error_code, outcome.reason) == (400, code, str(code))
    assert to not in repr(outcome)
    assert to[-4:] not in (outcome.error_message or "")


def test_given_a_wrong_auth_token_then_the_credential_is_refused(http, twilio):
    account = parse_twilio_account(ACCOUNT_SID, auth_token="0" * 32)
    client = TwilioMessagesClient(http, account, endpoint=twilio.base_url)

    outcome = send(client)

    assert outcome.disposition is Disposition.CREDENTIAL_REFUSED
    assert (outcome.status, outcome.error_code) == (401, 20003)
    assert twilio.deliveries.all() == []


def test_given_neither_body_nor_media_then_failed_with_twilios_code(client):
    outcome = send(client, body=None)

    assert outcome.disposition is Disposition.FAILED
    assert (outcome.status, outcome.error_code) == (400, 21619)


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (503, 20503), (500, 20500)])
def test_given_twilio_failing_then_retry_with_its_retry_after(client, twilio, status, code):
    twilio.faults.set({"fail_next": 1, "fail_status": status, "retry_after": 2})

    outcome = send(client)

    assert outcome.disposition is Disposition.RETRY
    assert (outcome.status, outcome.error_code, outcome.retry_after) == (status, code, 2.0)
    assert not outcome.maybe_accepted
    assert send(client).sent


def test_given_the_connection_dropped_after_the_request_then_retry_as_maybe_accepted(
    client, twilio
):
    twilio.faults.set({"drop_next": 1})

    outcome = send(client)

    assert outcome.disposition is Disposition.RETRY
    assert outcome.maybe_accepted
    assert len(twilio.deliveries.all()) == 1


def test_given_an_answer_slower_than_the_timeout_then_retry_as_maybe_accepted(
    twilio, twilio_account
):
    timeout = httpx.Timeout(0.3, connect=2.0)
    twilio.faults.set({"delay_next": 1, "delay_seconds": 1.0})
    with twilio_http_client(timeout=timeout) as http:
        client = TwilioMessagesClient(
            http, twilio_account, endpoint=twilio.base_url, timeout=timeout
        )

        outcome = send(client)

    assert outcome.disposition is Disposition.RETRY
    assert (outcome.reason, outcome.maybe_accepted) == ("ReadTimeout", True)
