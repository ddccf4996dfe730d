"""Delivery callbacks signed as Twilio signs webhooks: twilio-python's RequestValidator, the
code receivers already run for Twilio's own webhooks, accepts them."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from twilio.request_validator import RequestValidator

from notify_bindings.providers.webhooks import (
    SIGNATURE_HEADER,
    form_body,
    is_valid,
    signature,
    signed_callback,
)
from tests.providers.material import AUTH_TOKEN

URL = "https://receiver.example.com/callbacks/notify?customer=42"
CALLBACK = {
    "NotificationSid": "NT" + "1" * 32,
    "AccountSid": "AC" + "2" * 32,
    "ServiceSid": "IS" + "3" * 32,
    "Count": "2",
    "SequenceId": "0",
    "IsFinal": "true",
    "DeliveryState": [
        '{"sid": "SM' + "4" * 32 + '", "type": "sms", "status": "SENT"}',
        '{"sid": "projects/p/messages/1", "type": "fcm", "status": "FAILED", "error_code": 52102}',
    ],
}


class MultiDict(dict[str, list[str]]):
    """What web frameworks hand RequestValidator: a mapping with all values of a name."""

    def getall(self, name):
        return self[name]


def received(body: bytes) -> MultiDict:
    return MultiDict(parse_qs(body.decode(), keep_blank_values=True))


def test_given_a_signed_callback_then_twilios_validator_accepts_it():
    body, headers = signed_callback(AUTH_TOKEN, URL, CALLBACK)

    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert RequestValidator(AUTH_TOKEN).validate(URL, received(body), headers[SIGNATURE_HEADER])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"A": "1"},
        {"b": "x", "B": "y", "a": ["2", "1", "2"]},
        {"Body": "héllo wörld ✓", "Empty": ""},
    ],
)
def test_given_any_params_then_the_signature_is_twilios(params):
    validator_params = MultiDict(
        {name: [value] if isinstance(value, str) else value for name, value in params.items()}
    )

    assert signature(AUTH_TOKEN, URL, params) == RequestValidator(AUTH_TOKEN).compute_signature(
        URL, validator_params
    )


def test_given_a_url_with_the_default_port_then_the_validator_still_accepts_it():
    url = "https://receiver.example.com:443/callbacks"
    body, headers = signed_callback(AUTH_TOKEN, url, CALLBACK)

    assert RequestValidator(AUTH_TOKEN).validate(
        "https://receiver.example.com/callbacks", received(body), headers[SIGNATURE_HEADER]
    )


@pytest.mark.parametrize(
    ("token", "url", "tamper"),
    [
        ("0" * 32, URL, None),
        (AUTH_TOKEN, URL + "&extra=1", None),
        (AUTH_TOKEN, URL, "IsFinal"),
    ],
    ids=["another token", "another url", "a changed parameter"],
)
def test_given_anything_changed_then_the_signature_no_longer_validates(token, url, tamper):
    body, headers = signed_callback(AUTH_TOKEN, URL, CALLBACK)
    params = received(body)
    if tamper:
        params[tamper] = ["false"]

    assert not RequestValidator(token).validate(url, params, headers[SIGNATURE_HEADER])
    assert not is_valid(token, url, dict(params.items()), headers[SIGNATURE_HEADER])


def test_given_our_own_check_then_it_agrees_with_the_validator():
    given = signature(AUTH_TOKEN, URL, CALLBACK)

    assert is_valid(AUTH_TOKEN, URL, CALLBACK, given)
    assert not is_valid(AUTH_TOKEN, URL, CALLBACK, given[:-2] + "xx")


def test_given_repeated_names_then_the_body_repeats_them_in_order():
    body = form_body({"DeliveryState": ["a", "b"], "Count": "2"})

    assert body == b"DeliveryState=a&DeliveryState=b&Count=2"
