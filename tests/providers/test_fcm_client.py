"""The FCM v1 client and its OAuth2 tokens against the FCM stand-in, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from local_api.standins.fcm import FcmStandIn
from notify_bindings.providers.credentials import ServiceAccount, parse_service_account
from notify_bindings.providers.fcm import (
    MESSAGING_SCOPE,
    AccessTokens,
    FcmClient,
    fcm_http_client,
)
from notify_bindings.providers.outcomes import Disposition, Outcome
from tests.providers.material import CLIENT_EMAIL, PROJECT, Clock, rsa_key, service_account_json

MINUTE = 60.0


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with fcm_http_client() as client:
        yield client


@pytest.fixture
def client(http, fcm: FcmStandIn, service_account: ServiceAccount, clock: Clock) -> FcmClient:
    return FcmClient(
        http, service_account, endpoint=fcm.base_url, token_url=fcm.token_url, clock=clock
    )


def message(token: str = "device-token-1", **fields: object) -> dict[str, object]:
    return {"token": token, "data": {"twi_body": "Hello"}, **fields}


def test_given_a_message_then_it_is_sent_and_fcm_names_it(client, fcm):
    outcome = client.send(message(notification={"title": "Hi"}))

    assert outcome.sent
    (delivery,) = fcm.deliveries.all()
    assert outcome.provider_id == delivery["name"]
    assert (outcome.provider_id or "").startswith(f"projects/{PROJECT}/messages/")
    assert delivery["token"] == "device-token-1"
    assert delivery["client_email"] == CLIENT_EMAIL
    assert delivery["message"] == message(notification={"title": "Hi"})


def test_given_many_sends_then_one_access_token_serves_them_all(client, fcm):
    for _ in range(20):
        assert client.send(message()).sent

    assert fcm.tokens_issued == 1


def test_given_a_token_near_its_expiry_then_it_is_replaced_before_it_expires(client, fcm, clock):
    client.send(message())
    clock.advance(54 * MINUTE)  # 6 minutes left of 3599 s: still used
    client.send(message())
    assert fcm.tokens_issued == 1

    clock.advance(2 * MINUTE)  # under 5 minutes left: replaced before it is sent
    assert client.send(message()).sent
    assert fcm.tokens_issued == 2


def test_given_fcm_refuses_a_token_then_a_new_one_is_fetched_once_and_the_send_repeated(
    client, fcm, clock
):
    client.send(message())
    fcm.revoke_access_tokens()  # Google ended it early: our clock still thinks it valid

    outcome = client.send(message())

    assert outcome.sent
    assert fcm.tokens_issued == 2
    assert len(fcm.deliveries.all()) == 2


def test_given_fcm_refuses_even_a_fresh_token_then_the_credential_is_refused(client, fcm):
    fcm.token_lifetime = 0  # every token it issues has expired by the time it is used

    outcome = client.send(message())

    assert outcome.disposition is Disposition.CREDENTIAL_REFUSED
    assert (outcome.status, outcome.reason, outcome.error_code) == (401, "UNAUTHENTICATED", 52005)
    assert fcm.tokens_issued == 2
    assert fcm.deliveries.all() == []


def test_given_the_assertion_then_it_is_the_jwt_bearer_grant_google_expects(
    http, service_account, fcm, clock
):
    tokens = AccessTokens(http, service_account, token_url=fcm.token_url, clock=clock)

    assertion = tokens.assertion(clock.now)

    header = jwt.get_unverified_header(assertion)
    claims = jwt.decode(
        assertion,
        rsa_key().public_key(),
        algorithms=["RS256"],
        audience=fcm.token_url,
        options={"verify_iat": False},  # the test's clock is not today's
    )
    assert (header["alg"], header["kid"]) == ("RS256", service_account.private_key_id)
    assert claims["iss"] == CLIENT_EMAIL
    assert claims["scope"] == MESSAGING_SCOPE
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["iat"] == int(clock.now)


def test_given_a_key_naming_another_token_uri_then_the_configured_token_url_is_used(
    http, fcm, clock
):
    account = parse_service_account(
        service_account_json(token_uri="http://127.0.0.1:9/steal-assertions")
    )
    client = FcmClient(http, account, endpoint=fcm.base_url, token_url=fcm.token_url, clock=clock)

    assert client.send(message()).sent
    assert fcm.tokens_issued == 1


def test_given_an_account_the_token_endpoint_does_not_know_then_the_credential_is_refused(
    http, fcm, clock
):
    stranger = parse_service_account(service_account_json(client_email="who@elsewhere.example"))
    client = FcmClient(http, stranger, endpoint=fcm.base_url, token_url=fcm.token_url, clock=clock)

    outcome = client.send(message())

    assert outcome.disposition is Disposition.CREDENTIAL_REFUSED
    assert (outcome.status, outcome.reason, outcome.error_code) == (400, "invalid_grant", 52005)
    assert fcm.deliveries.all() == []


def test_given_a_key_the_account_no_longer_has_then_the_credential_is_refused(http, fcm, clock):
    other_key = parse_service_account(service_account_json(rsa_key("another")))
    client = FcmClient(http, other_key, endpoint=fcm.base_url, token_url=fcm.token_url, clock=clock)

    outcome = client.send(message())

    assert outcome.disposition is Disposition.CREDENTIAL_REFUSED
    assert outcome.reason == "invalid_grant"


def test_given_an_account_of_another_project_then_the_credential_is_refused(http, fcm, clock):
    account = parse_service_account(service_account_json(project_id="another-project"))
    client = FcmClient(http, account, endpoint=fcm.base_url, token_url=fcm.token_url, clock=clock)

    outcome = client.send(message())

    assert outcome.disposition is Disposition.CREDENTIAL_REFUSED
    assert (outcome.status, outcome.reason, outcome.error_code) == (
        403,
        "PERMISSION_DENIED",
        52005,
    )


def test_given_the_token_endpoint_unavailable_then_retry_and_nothing_was_sent(client, fcm):
    fcm.faults.set({"target": "token", "fail_next": 1, "retry_after": 30})

    outcome = client.send(message())

    assert outcome.disposition is Disposition.RETRY
    assert (outcome.status, outcome.retry_after, outcome.maybe_accepted) == (503, 30.0, False)
    assert client.send(message()).sent


@pytest.mark.parametrize(
    ("token", "disposition", "status", "reason", "code"),
    [
        ("dead-1", Disposition.DEAD_ADDRESS, 404, "UNREGISTERED", 52102),
        ("bad-1", Disposition.FAILED, 400, "INVALID_ARGUMENT", 52000),
        ("mismatch-1", Disposition.FAILED, 403, "SENDER_ID_MISMATCH", 52102),
    ],
)
def test_given_a_token_fcm_refuses_then_it_is_classified_by_its_error_code(
    client, fcm, token, disposition, status, reason, code
):
    outcome = client.send(message(token))

    assert outcome.disposition is disposition
    assert (outcome.status, outcome.reason, outcome.error_code) == (status, reason, code)
    assert token not in (outcome.error_message or "")


def test_given_a_busy_token_then_retry_after_the_seconds_fcm_named_and_then_sent(client):
    first, second = client.send(message("busy-1")), client.send(message("busy-1"))

    assert first.disposition is Disposition.RETRY
    assert (first.status, first.reason, first.retry_after) == (503, "UNAVAILABLE", 1.0)
    assert second.sent


def test_given_data_that_is_not_all_strings_then_failed(client, fcm):
    outcome = client.send({"token": "device-token-1", "data": {"count": 3}})

    assert outcome.disposition is Disposition.FAILED
    assert (outcome.status, outcome.reason) == (400, "INVALID_ARGUMENT")


def test_given_a_message_over_4096_bytes_then_failed_without_a_request(client, fcm):
    outcome = client.send(message(data={"twi_body": "x" * 4096}))

    assert (outcome.disposition, outcome.error_code) == (Disposition.FAILED, 52106)
    assert fcm.tokens_issued == 0


def test_given_a_long_token_then_it_does_not_count_against_the_payload_limit(client):
    payload = "x" * (4096 - len('{"data":{"twi_body":""}}'))

    assert client.send(message("t" * 500, data={"twi_body": payload})).sent


@pytest.mark.parametrize(
    ("status", "reason"),
    [(503, "UNAVAILABLE"), (500, "INTERNAL"), (429, "QUOTA_EXCEEDED")],
)
def test_given_fcm_failing_then_retry_with_its_retry_after(client, fcm, status, reason):
    fcm.faults.set({"fail_next": 1, "fail_status": status, "retry_after": 60})

    outcome = client.send(message())

    assert outcome.disposition is Disposition.RETRY
    assert (outcome.status, outcome.reason, outcome.retry_after) == (status, reason, 60.0)
    assert (outcome.error_code, outcome.maybe_accepted) == (52110, False)


def test_given_the_connection_dropped_after_the_request_then_retry_as_maybe_accepted(client, fcm):
    fcm.faults.set({"drop_next": 1})

    outcome = client.send(message())

    assert outcome.disposition is Disposition.RETRY
    assert outcome.maybe_accepted
    assert len(fcm.deliveries.all()) == 1  # FCM had accepted it
    assert client.send(message()).sent


def test_given_an_answer_slower_than_the_timeout_then_retry_as_maybe_accepted(
    fcm, service_account, clock
):
    timeout = httpx.Timeout(0.3, connect=2.0)
    fcm.faults.set({"delay_next": 1, "delay_seconds": 1.0})
    with fcm_http_client(timeout=timeout) as http:
        client = FcmClient(
            http,
            service_account,
            endpoint=fcm.base_url,
            token_url=fcm.token_url,
            clock=clock,
            timeout=timeout,
        )
        client.tokens.current()  # the token first: the delay is for the send

        outcome = client.send(message())

    assert outcome.disposition is Disposition.RETRY
    assert (outcome.reason, outcome.maybe_accepted) == ("ReadTimeout", True)


def test_given_the_validate_only_flag_passed_through_then_nothing_is_recorded(client, fcm):
    # FcmClient sends {"message": ...}; the stand-in's validate_only needs a raw request.
    token = client.tokens.current()
    response = httpx.post(
        f"{fcm.base_url}/v1/projects/{PROJECT}/messages:send",
        json={"message": message(), "validate_only": True},
        headers={"authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    assert fcm.deliveries.all() == []


def test_given_outcomes_then_none_carries_the_token_or_a_secret(client, fcm):
    outcomes: list[Outcome] = [client.send(message(t)) for t in ("dead-7", "bad-7", "ok-7")]

    for outcome in outcomes:
        shown = repr(outcome)
        assert "-7" not in shown
        assert "ya29" not in shown
