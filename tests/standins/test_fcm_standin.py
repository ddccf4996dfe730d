"""What the FCM stand-in and its token endpoint refuse, asked directly, as Google would."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from local_api.standins.fcm import SCOPE, FcmStandIn
from tests.providers.material import CLIENT_EMAIL, PROJECT, T0, Clock, rsa_key

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture
def http(fcm: FcmStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fcm.base_url) as client:
        yield client


def assertion(fcm: FcmStandIn, clock: Clock, key=None, **claims) -> str:
    iat = int(clock.now)
    document = {
        "iss": CLIENT_EMAIL,
        "scope": SCOPE,
        "aud": fcm.token_url,
        "iat": iat,
        "exp": iat + 3600,
        **claims,
    }
    return jwt.encode(
        {k: v for k, v in document.items() if v is not None}, key or rsa_key(), algorithm="RS256"
    )


def token_answer(http: httpx.Client, assertion: str, grant: str = GRANT) -> httpx.Response:
    return http.post("/token", data={"grant_type": grant, "assertion": assertion})


def access_token(http: httpx.Client, fcm: FcmStandIn, clock: Clock) -> str:
    answer = token_answer(http, assertion(fcm, clock))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def send(http: httpx.Client, token: str | None, body: object, project: str = PROJECT):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return http.post(f"/v1/projects/{project}/messages:send", json=body, headers=headers)


def error(response: httpx.Response) -> tuple[int, str, str | None]:
    document = response.json()["error"]
    details = document.get("details") or [{}]
    return document["code"], document["status"], details[0].get("errorCode")


def test_given_a_valid_assertion_then_a_bearer_token_for_just_under_an_hour(http, fcm, clock):
    answer = token_answer(http, assertion(fcm, clock))

    assert answer.status_code == 200
    document = answer.json()
    assert (document["expires_in"], document["token_type"]) == (3599, "Bearer")
    assert document["access_token"]


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"aud": "https://oauth2.googleapis.com/token"}, "invalid_grant"),
        ({"iss": "stranger@example.com"}, "invalid_grant"),
        ({"scope": "https://www.googleapis.com/auth/cloud-platform"}, "invalid_scope"),
        ({"exp": int(T0) + 3601}, "invalid_grant"),
        ({"iat": int(T0) - 7200, "exp": int(T0) - 3600}, "invalid_grant"),
        ({"iat": int(T0) + 600, "exp": int(T0) + 4200}, "invalid_grant"),
        ({"exp": None}, "invalid_grant"),
    ],
    ids=[
        "other audience",
        "unknown account",
        "other scope",
        "over an hour",
        "expired",
        "from the future",
        "no exp",
    ],
)
def test_given_a_bad_assertion_then_400_with_googles_error(http, fcm, clock, claims, expected):
    answer = token_answer(http, assertion(fcm, clock, **claims))

    assert answer.status_code == 400
    assert answer.json()["error"] == expected


def test_given_an_assertion_signed_by_another_key_then_invalid_grant(http, fcm, clock):
    answer = token_answer(http, assertion(fcm, clock, key=rsa_key("another")))

    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_given_another_grant_type_then_unsupported(http, fcm, clock):
    answer = token_answer(http, assertion(fcm, clock), grant="client_credentials")

    assert answer.json()["error"] == "unsupported_grant_type"


def test_given_a_message_then_200_with_its_name_and_it_is_recorded(http, fcm, clock):
    answer = send(
        http, access_token(http, fcm, clock), {"message": {"token": "abc", "data": {"k": "v"}}}
    )

    assert answer.status_code == 200
    (delivery,) = fcm.deliveries.all()
    assert answer.json() == {"name": delivery["name"]}
    assert delivery["token"] == "abc"


@pytest.mark.parametrize("token", [None, "ya29.unknown"])
def test_given_no_valid_bearer_token_then_401_unauthenticated(http, token):
    assert error(send(http, token, {"message": {"token": "abc"}}))[:2] == (401, "UNAUTHENTICATED")


def test_given_an_expired_access_token_then_401(http, fcm, clock):
    token = access_token(http, fcm, clock)
    clock.advance(3599)

    assert error(send(http, token, {"message": {"token": "abc"}}))[:2] == (401, "UNAUTHENTICATED")


def test_given_another_project_then_403_permission_denied(http, fcm, clock):
    answer = send(
        http, access_token(http, fcm, clock), {"message": {"token": "a"}}, "other-project"
    )

    assert error(answer) == (403, "PERMISSION_DENIED", None)


@pytest.mark.parametrize(
    "body",
    [
        {"message": {"data": {"k": "v"}}},
        {"message": {"token": "a", "topic": "news"}},
        {"message": {"token": "a", "data": {"count": 1}}},
        {"message": {"token": "a", "android": {"data": {"flag": True}}}},
        {"message": {"token": "a", "data": {"k": "x" * 4096}}},
        {"message": "not an object"},
        {"msg": {}},
    ],
    ids=[
        "no target",
        "two targets",
        "number in data",
        "bool in android data",
        "too big",
        "message not an object",
        "no message",
    ],
)
def test_given_an_invalid_message_then_400_invalid_argument(http, fcm, clock, body):
    answer = send(http, access_token(http, fcm, clock), body)

    assert error(answer)[:2] == (400, "INVALID_ARGUMENT")
    assert fcm.deliveries.all() == []


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("dead-1", (404, "NOT_FOUND", "UNREGISTERED")),
        ("bad-1", (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")),
        ("mismatch-1", (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH")),
    ],
)
def test_given_a_test_card_token_then_fcms_error_with_its_fcm_error_code(
    http, fcm, clock, token, expected
):
    answer = send(http, access_token(http, fcm, clock), {"message": {"token": token}})

    assert error(answer) == expected
    assert answer.json()["error"]["details"][0]["@type"] == (
        "type.googleapis.com/google.firebase.fcm.v1.FcmError"
    )


def test_given_a_busy_token_then_503_with_retry_after_once(http, fcm, clock):
    token = access_token(http, fcm, clock)
    first = send(http, token, {"message": {"token": "busy-1"}})
    second = send(http, token, {"message": {"token": "busy-1"}})

    assert error(first) == (503, "UNAVAILABLE", "UNAVAILABLE")
    assert first.headers["retry-after"] == "1"
    assert second.status_code == 200


def test_given_validate_only_then_answered_but_not_recorded(http, fcm, clock):
    answer = send(
        http, access_token(http, fcm, clock), {"message": {"token": "abc"}, "validate_only": True}
    )

    assert answer.status_code == 200
    assert fcm.deliveries.all() == []


def test_given_a_fraction_of_failures_with_a_seed_then_about_that_many_fail(http, fcm, clock):
    token = access_token(http, fcm, clock)
    assert http.post("/faults", json={"fail_fraction": 0.25, "seed": 7}).status_code == 204

    statuses = [send(http, token, {"message": {"token": "abc"}}).status_code for _ in range(200)]

    assert 25 <= statuses.count(503) <= 75
    assert statuses.count(503) + statuses.count(200) == 200


def test_given_its_tokens_revoked_through_the_control_api_then_a_send_is_401_until_a_new_one(
    http, fcm, clock
):
    token = access_token(http, fcm, clock)

    assert http.delete("/tokens").status_code == 204

    assert error(send(http, token, {"message": {"token": "abc"}}))[:2] == (401, "UNAUTHENTICATED")
    fresh = access_token(http, fcm, clock)
    assert send(http, fresh, {"message": {"token": "abc"}}).status_code == 200
    assert http.get("/tokens").status_code == 405


def test_given_a_fault_plan_then_it_reports_the_faults_it_injected_by_kind(http, fcm, clock):
    token = access_token(http, fcm, clock)
    plan = {"fail_next": 2, "drop_next": 1, "delay_next": 1, "delay_seconds": 0.01}
    assert http.post("/faults", json=plan).status_code == 204

    with pytest.raises(httpx.RemoteProtocolError):
        send(http, token, {"message": {"token": "abc"}})  # delayed, then dropped
    statuses = [send(http, token, {"message": {"token": "abc"}}).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    (described,) = http.get("/faults").json()["plans"]
    assert described["injected"] == {"fail": 2, "drop": 1, "delay": 1, "timeout": 0}
    # The dropped one was accepted, and is marked as an acceptance lost in transit.
    assert [d["dropped"] for d in fcm.deliveries.all()] == [True, False]
