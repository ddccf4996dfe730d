"""What the APNs stand-in refuses, asked directly over HTTP/2 (and its control API over
HTTP/1.1), as APNs would refuse it."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import httpx
import jwt
import pytest

from local_api.standins.apns import ApnsStandIn
from tests.providers.material import (
    DEVICE_TOKEN,
    KEY_ID,
    OTHER_TEAM_ID,
    TEAM_ID,
    TOPIC,
    Clock,
    ec_key,
)

PAYLOAD = json.dumps({"aps": {"alert": "hi"}}).encode()


def provider_token(
    clock: Clock, *, key_id: str = KEY_ID, team_id: str = TEAM_ID, age: float = 0, key=None
) -> str:
    return jwt.encode(
        {"iss": team_id, "iat": int(clock.now - age)},
        key or ec_key(),
        algorithm="ES256",
        headers={"kid": key_id},
    )


@pytest.fixture
def h2(apns: ApnsStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(
        http1=False,
        http2=True,
        verify=ssl.create_default_context(cafile=apns.ca_file),
        base_url=apns.base_url,
    ) as c:
        yield c


def post(
    h2: httpx.Client,
    token: str | None,
    *,
    path: str = f"/3/device/{DEVICE_TOKEN}",
    body: bytes = PAYLOAD,
    **headers: str,
) -> httpx.Response:
    sent = {"apns-topic": TOPIC, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if token is not None:
        sent["authorization"] = f"bearer {token}"
    return h2.post(path, content=body, headers={k: v for k, v in sent.items() if v})


def reason(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["reason"]


def test_given_a_valid_request_then_200_with_the_apns_id_and_it_is_recorded(h2, apns, clock):
    response = post(h2, provider_token(clock))

    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    (delivery,) = apns.deliveries.all()
    assert response.headers["apns-id"] == delivery["apns_id"]
    assert delivery["payload"] == {"aps": {"alert": "hi"}}


@pytest.mark.parametrize(
    ("token_of", "expected"),
    [
        (lambda clock: None, (403, "MissingProviderToken")),
        (lambda clock: "not-a-jwt", (403, "InvalidProviderToken")),
        (lambda clock: provider_token(clock, key_id="KEYUNKNOWN"), (403, "InvalidProviderToken")),
        (lambda clock: provider_token(clock, team_id=OTHER_TEAM_ID), (403, "InvalidProviderToken")),
        (lambda clock: provider_token(clock, key=ec_key("other")), (403, "InvalidProviderToken")),
        (lambda clock: provider_token(clock, age=-3600), (403, "InvalidProviderToken")),
        (lambda clock: provider_token(clock, age=3601), (403, "ExpiredProviderToken")),
    ],
    ids=[
        "missing",
        "not a jwt",
        "unknown key",
        "another team",
        "another signing key",
        "from the future",
        "over an hour old",
    ],
)
def test_given_a_bad_provider_token_then_403_with_apns_reason(h2, apns, clock, token_of, expected):
    assert reason(post(h2, token_of(clock))) == expected
    assert apns.deliveries.all() == []


def test_given_a_token_not_signed_es256_then_invalid(h2, apns, clock):
    hs256 = jwt.encode(
        {"iss": TEAM_ID, "iat": int(clock.now)},
        "k" * 32,
        algorithm="HS256",
        headers={"kid": KEY_ID},
    )

    assert reason(post(h2, hs256)) == (403, "InvalidProviderToken")


def test_given_a_token_an_hour_old_then_accepted_and_a_second_later_expired(h2, clock):
    token = provider_token(clock)
    clock.advance(3600)
    assert post(h2, token).status_code == 200

    clock.advance(1)
    assert reason(post(h2, token)) == (403, "ExpiredProviderToken")


def test_given_a_new_token_within_20_minutes_on_one_connection_then_429(h2, clock):
    assert post(h2, provider_token(clock)).status_code == 200
    clock.advance(19 * 60)
    assert reason(post(h2, provider_token(clock))) == (429, "TooManyProviderTokenUpdates")

    clock.advance(60)
    assert post(h2, provider_token(clock)).status_code == 200


def test_given_a_second_team_on_one_connection_then_its_token_is_invalid(h2, apns, clock):
    apns.register_token_key("KEY0000002", OTHER_TEAM_ID, ec_key("other").public_key(), [TOPIC])
    assert post(h2, provider_token(clock)).status_code == 200

    other = provider_token(clock, key_id="KEY0000002", team_id=OTHER_TEAM_ID, key=ec_key("other"))
    assert reason(post(h2, other)) == (403, "InvalidProviderToken")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"apns_topic": ""}, (400, "MissingTopic")),
        ({"apns_topic": "com.example.other"}, (400, "TopicDisallowed")),
        ({"apns_priority": "7"}, (400, "BadPriority")),
        ({"apns_expiration": "tomorrow"}, (400, "BadExpirationDate")),
        ({"apns_collapse_id": "c" * 65}, (400, "BadCollapseId")),
        ({"apns_push_type": "smoke-signal"}, (400, "InvalidPushType")),
        ({"apns_id": "not-a-uuid"}, (400, "BadMessageId")),
    ],
)
def test_given_a_bad_header_then_400_with_apns_reason(h2, clock, headers, expected):
    assert reason(post(h2, provider_token(clock), **headers)) == expected


def test_given_a_header_twice_then_duplicate_headers(h2, clock):
    response = h2.post(
        f"/3/device/{DEVICE_TOKEN}",
        content=PAYLOAD,
        headers=[
            ("authorization", f"bearer {provider_token(clock)}"),
            ("apns-topic", TOPIC),
            ("apns-priority", "10"),
            ("apns-priority", "5"),
        ],
    )

    assert reason(response) == (400, "DuplicateHeaders")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", (400, "PayloadEmpty")),
        (b"{not json", (400, "BadPayload")),
        (b'{"alert": "no aps"}', (400, "BadPayload")),
        (json.dumps({"aps": {}, "x": "y" * 4096}).encode(), (413, "PayloadTooLarge")),
    ],
)
def test_given_a_bad_payload_then_apns_reason(h2, clock, body, expected):
    assert reason(post(h2, provider_token(clock), body=body)) == expected


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/3/device/", "POST", (400, "MissingDeviceToken")),
        ("/3/device/has-dashes", "POST", (400, "BadDeviceToken")),
        ("/2/device/abc", "POST", (404, "BadPath")),
        (f"/3/device/{DEVICE_TOKEN}", "GET", (405, "MethodNotAllowed")),
    ],
)
def test_given_a_bad_path_or_method_then_apns_reason(h2, clock, path, method, expected):
    response = h2.request(
        method,
        path,
        content=PAYLOAD if method == "POST" else None,
        headers={"authorization": f"bearer {provider_token(clock)}", "apns-topic": TOPIC},
    )

    assert reason(response) == expected


def test_given_a_dead_token_then_410_with_the_time_it_was_last_valid(h2, clock):
    response = post(h2, provider_token(clock), path="/3/device/dead0001")

    assert response.status_code == 410
    assert response.json() == {"reason": "Unregistered", "timestamp": int(clock.now * 1000)}


def test_given_a_busy_token_then_503_once_then_200(h2, clock):
    token = provider_token(clock)
    first = post(h2, token, path="/3/device/busy0001")
    second = post(h2, token, path="/3/device/busy0001")

    assert reason(first) == (503, "ServiceUnavailable")
    assert first.headers["retry-after"] == "1"
    assert second.status_code == 200


def test_given_http1_then_the_control_api_answers_and_the_provider_api_does_not(apns, h2, clock):
    post(h2, provider_token(clock))
    with httpx.Client(
        verify=ssl.create_default_context(cafile=apns.ca_file), base_url=apns.base_url
    ) as http1:
        deliveries = http1.get("/deliveries")
        refused = http1.post(f"/3/device/{DEVICE_TOKEN}", content=PAYLOAD)
        cleared = http1.delete("/deliveries")

    assert deliveries.http_version == "HTTP/1.1"
    assert [d["device_token"] for d in deliveries.json()["deliveries"]] == [DEVICE_TOKEN]
    assert refused.status_code == 505
    assert cleared.status_code == 204
    assert apns.deliveries.all() == []


def test_given_a_timeout_over_http2_then_the_request_is_accepted_unanswered_and_the_connection_dropped(  # noqa: E501
    h2, apns, clock
):
    plan = {"timeout_next": 1, "timeout_seconds": 0.5}
    assert h2.post("/faults", json=plan).status_code == 204

    with pytest.raises((httpx.ReadTimeout, httpx.RemoteProtocolError)):
        h2.post(
            f"/3/device/{DEVICE_TOKEN}",
            content=PAYLOAD,
            headers={"authorization": f"bearer {provider_token(clock)}", "apns-topic": TOPIC},
            timeout=0.2,
        )

    assert [d["dropped"] for d in apns.deliveries.all()] == [True]
    injected = h2.get("/faults").json()["plans"][0]["injected"]
    assert injected == {"fail": 0, "drop": 0, "delay": 0, "timeout": 1}


def test_given_faults_set_over_http2_then_the_next_requests_fail_and_then_succeed(h2, clock):
    assert h2.post("/faults", json={"fail_next": 2, "retry_after": 3}).status_code == 204

    token = provider_token(clock)
    answers = [post(h2, token) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["retry-after"] == "3"
    assert h2.get("/faults").json()["plans"][0]["fail_next"] == 0


def test_given_strict_certificate_checks_as_python_3_13_makes_them_then_the_tls_handshake_passes(
    apns,
):
    # Lambda's python3.13 verifies with VERIFY_X509_STRICT by default: a certificate that does
    # not name its issuer's key fails there, and every send to the stand-in would too.
    strict = ssl.create_default_context(cafile=apns.ca_file)
    strict.verify_flags |= ssl.VERIFY_X509_STRICT

    with httpx.Client(http1=False, http2=True, verify=strict, base_url=apns.base_url) as client:
        answered = client.post(f"/3/device/{DEVICE_TOKEN}", content=PAYLOAD)

    assert answered.status_code == 403  # through TLS: APNs' own answer to a missing token
