"""Stand-ins started per test (each in milliseconds) with the test's clock, and the
credentials they are told to accept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_api.standins.apns import ApnsStandIn
from local_api.standins.fcm import FcmStandIn
from local_api.standins.twilio_messages import TwilioMessagesStandIn
from notify_bindings.providers.credentials import (
    ApnsTokenKey,
    ServiceAccount,
    TwilioAccount,
    parse_apns_token_key,
    parse_service_account,
    parse_twilio_account,
)
from tests.providers.material import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    CLIENT_EMAIL,
    KEY_ID,
    PROJECT,
    TEAM_ID,
    TOPIC,
    Clock,
    ec_key,
    pem,
    rsa_key,
    service_account_json,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def token_key() -> ApnsTokenKey:
    return parse_apns_token_key(pem(ec_key()), key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC)


@pytest.fixture
def apns(clock: Clock) -> Iterator[ApnsStandIn]:
    with ApnsStandIn(clock=clock) as standin:
        standin.register_token_key(KEY_ID, TEAM_ID, ec_key().public_key(), [TOPIC])
        yield standin


@pytest.fixture
def service_account() -> ServiceAccount:
    return parse_service_account(service_account_json())


@pytest.fixture
def fcm(clock: Clock) -> Iterator[FcmStandIn]:
    with FcmStandIn(clock=clock) as standin:
        standin.register_service_account(CLIENT_EMAIL, PROJECT, rsa_key().public_key())
        yield standin


@pytest.fixture
def twilio_account() -> TwilioAccount:
    return parse_twilio_account(ACCOUNT_SID, auth_token=AUTH_TOKEN)


@pytest.fixture
def twilio(clock: Clock) -> Iterator[TwilioMessagesStandIn]:
    with TwilioMessagesStandIn(clock=clock) as standin:
        standin.register_account(ACCOUNT_SID, AUTH_TOKEN)
        standin.register_api_key(ACCOUNT_SID, API_KEY_SID, API_KEY_SECRET)
        yield standin
