"""Request bodies a form-reading operation must refuse: too large, not UTF-8, JSON, not a
form at all, or naming a single-valued parameter twice."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from notify_bindings.api.request import MAX_BODY_BYTES
from tests.hostile.support import Api, assert_twilio_error

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Every operation that reads a form body, with a form it would accept (and act on).
FORM_OPERATIONS = {
    "create service": ("/v1/Services", "FriendlyName=mallory"),
    "update service": ("/v1/Services/{service}", "FriendlyName=mallory"),
    "create binding": (
        "/v1/Services/{service}/Bindings",
        "Identity=mallory&BindingType=apn&Address=mallory-token&Tag=evil",
    ),
    "create notification": (
        "/v1/Services/{service}/Notifications",
        "Identity=mallory&Body=evil&Data=%7B%22a%22%3A1%7D",
    ),
}


@pytest.fixture(params=sorted(FORM_OPERATIONS))
def form_operation(request: pytest.FixtureRequest, hostile_service: str) -> tuple[str, str]:
    path, form = FORM_OPERATIONS[request.param]
    return path.format(service=hostile_service), form


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 1024 * 1024])
def test_given_a_body_over_64_kb_when_posted_then_400_naming_the_limit(
    hostile_api: Api, form_operation: tuple[str, str], size: int
):
    path, form = form_operation
    # A valid form, padded with a parameter the API ignores: only the size is wrong.
    padding = "&Padding=" + "a" * (size - len(form) - len("&Padding="))
    body = (form + padding).encode()
    assert len(body) == size

    reply = hostile_api.request("POST", path, data=body, headers=FORM)

    error = assert_twilio_error(reply, 400)
    assert f"larger than {MAX_BODY_BYTES} bytes" in error["message"]


INVALID_UTF8 = {
    "raw 0xFF 0xFE": b"\xff\xfe",
    "raw truncated sequence": b"\xc3",
    "percent-encoded 0xFF 0xFE": b"%FF%FE",
    "percent-encoded overlong slash": b"%C0%AF",
    "percent-encoded lone surrogate": b"%ED%A0%80",
    "percent-encoded truncated sequence": b"%E2%82",
}


def test_given_invalid_utf8_in_a_form_when_posted_then_400(
    hostile_api: Api, form_operation: tuple[str, str], subtests
):
    path, form = form_operation
    for kind, spoiled in INVALID_UTF8.items():
        with subtests.test(kind):
            body = form.encode() + spoiled  # the last value ends in the spoiled bytes

            reply = hostile_api.request("POST", path, data=body, headers=FORM)

            error = assert_twilio_error(reply, 400)
            expected = "percent-encoded" if kind.startswith("percent") else "not valid UTF-8"
            assert expected in error["message"]


def test_given_percent_encoded_invalid_utf8_in_a_query_when_listing_then_400(
    hostile_api: Api, hostile_service: str, subtests
):
    for query in ["Identity=%FF", "Tag=%C0%AF", "Identity=%ED%A0%80", "PageToken=%E2%82"]:
        with subtests.test(query):
            reply = hostile_api.request("GET", f"/v1/Services/{hostile_service}/Bindings?{query}")

            assert "percent-encoded" in assert_twilio_error(reply, 400)["message"]


def test_given_a_json_body_instead_of_a_form_when_posted_then_400_naming_the_content_type(
    hostile_api: Api, form_operation: tuple[str, str]
):
    path, form = form_operation
    as_json = dict(pair.split("=") for pair in form.split("&"))

    reply = hostile_api.request("POST", path, json=as_json)

    error = assert_twilio_error(reply, 400)
    assert error["message"] == "Content-Type must be application/x-www-form-urlencoded"


OTHER_CONTENT_TYPES = [
    "multipart/form-data; boundary=x",
    "text/plain",
    "application/xml",
    "application/octet-stream",
    "application/x-www-form-urlencoded-but-not",
    "",
    None,  # no Content-Type at all, with a body
]


def test_given_a_form_body_under_another_content_type_when_posted_then_400(
    hostile_api: Api, form_operation: tuple[str, str], subtests
):
    path, form = form_operation
    for content_type in OTHER_CONTENT_TYPES:
        with subtests.test(content_type=content_type):
            headers = {} if content_type is None else {"Content-Type": content_type}

            reply = hostile_api.request("POST", path, data=form.encode(), headers=headers)

            error = assert_twilio_error(reply, 400)
            assert error["message"] == "Content-Type must be application/x-www-form-urlencoded"


def test_given_a_real_multipart_form_when_posted_then_400(
    hostile_api: Api, form_operation: tuple[str, str]
):
    path, form = form_operation
    fields = {name: (None, value) for name, value in (p.split("=") for p in form.split("&"))}

    reply = hostile_api.request("POST", path, files=fields)

    assert "Content-Type" in assert_twilio_error(reply, 400)["message"]


CREATE_BINDING = {"Identity": "mallory", "BindingType": "apn", "Address": "mallory-token"}


@pytest.mark.parametrize(
    "name",
    ["Identity", "BindingType", "Address", "NotificationProtocolVersion", "CredentialSid"],
)
def test_given_a_scalar_parameter_twice_when_creating_a_binding_then_400_naming_it(
    hostile_api: Api, hostile_service: str, name: str
):
    value = (
        CREATE_BINDING.get(name)
        or {
            "NotificationProtocolVersion": "3",
            "CredentialSid": "CR" + "a" * 32,
        }[name]
    )
    # The same value twice: still refused.
    pairs = [*CREATE_BINDING.items(), *[(name, value)] * (1 if name in CREATE_BINDING else 2)]

    reply = hostile_api.request(
        "POST", f"/v1/Services/{hostile_service}/Bindings", data=urlencode(pairs), headers=FORM
    )

    error = assert_twilio_error(reply, 400)
    assert error["message"] == f"Parameter '{name}' must be given at most once"


@pytest.mark.parametrize(
    ("path", "pairs"),
    [
        ("/v1/Services", [("FriendlyName", "a"), ("FriendlyName", "b")]),
        ("/v1/Services/{service}", [("LogEnabled", "true"), ("LogEnabled", "false")]),
        ("/v1/Services/{service}", [("FriendlyName", "a"), ("FriendlyName", "a")]),
    ],
)
def test_given_a_service_setting_twice_when_posted_then_400_naming_it(
    hostile_api: Api, hostile_service: str, path: str, pairs: list[tuple[str, str]]
):
    reply = hostile_api.request(
        "POST", path.format(service=hostile_service), data=urlencode(pairs), headers=FORM
    )

    error = assert_twilio_error(reply, 400)
    assert error["message"] == f"Parameter '{pairs[0][0]}' must be given at most once"


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        ("/v1/Services/{service}/Bindings", "PageSize", ["1", "2"]),
        ("/v1/Services/{service}/Bindings", "Page", ["0", "0"]),
        ("/v1/Services/{service}/Bindings", "PageToken", ["a", "b"]),
        ("/v1/Services/{service}/Bindings", "StartDate", ["2020-01-01", "2020-01-02"]),
        ("/v1/Services/{service}/Bindings", "EndDate", ["2020-01-01", "2020-01-01"]),
        ("/v1/Services", "PageSize", ["1", "1"]),
        ("/v1/Services", "FriendlyName", ["a", "b"]),
    ],
)
def test_given_a_scalar_query_parameter_twice_when_listing_then_400_naming_it(
    hostile_api: Api, hostile_service: str, path: str, name: str, values: list[str]
):
    reply = hostile_api.request(
        "GET", path.format(service=hostile_service), params=[(name, v) for v in values]
    )

    error = assert_twilio_error(reply, 400)
    assert error["message"] == f"Parameter '{name}' must be given at most once"
