"""Twilio's form and query encoding turned into validated models, and errors into its JSON."""

from __future__ import annotations

import base64
import json

import pytest

from local_api.events import http_api_event
from local_api.template import Route
from notify_bindings.api.handler import error_response
from notify_bindings.api.request import MAX_BODY_BYTES, ApiRequest
from notify_bindings.api.requests.binding_lists import ListBindingsQuery
from notify_bindings.api.requests.bindings import CreateBindingForm
from notify_bindings.platform.errors import InvalidParameter, NotFound, Throttled, Unauthenticated

SERVICE = "IS" + "c" * 32
CREATE = Route("POST", "/v1/Services/{ServiceSid}/Bindings", "CreateBindingFunction")
LIST = Route("GET", "/v1/Services/{ServiceSid}/Bindings", "ListBindingsFunction")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def request(route: Route, *, body: bytes = b"", query: str = "", headers=None) -> ApiRequest:
    event = http_api_event(
        route, f"/v1/Services/{SERVICE}/Bindings", query=query, body=body, headers=headers or FORM
    )
    return ApiRequest(event)


def test_given_repeated_tags_when_parsed_then_all_are_kept_in_order():
    parsed = request(CREATE, body=b"Identity=a&BindingType=sms&Address=%2B15551234567&Tag=x&Tag=y")

    assert parsed.form(CreateBindingForm).tags == ("x", "y")
    assert parsed.form(CreateBindingForm).address == "+15551234567"


def test_given_a_repeated_scalar_when_parsed_then_refused_by_name():
    with pytest.raises(InvalidParameter, match="'Identity' must be given at most once"):
        request(CREATE, body=b"Identity=a&Identity=b&BindingType=sms&Address=%2B15551234567").form(
            CreateBindingForm
        )


def test_given_a_missing_parameter_then_the_message_names_it():
    with pytest.raises(InvalidParameter, match="Missing required parameter Identity"):
        request(CREATE, body=b"BindingType=sms&Address=%2B15551234567").form(CreateBindingForm)


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b'{"Identity": "a"}', {"Content-Type": "application/json"}, "Content-Type"),
        (b"Identity=%ff%fe&BindingType=sms", FORM, "UTF-8"),
        (b"Identity=" + b"a" * MAX_BODY_BYTES, FORM, "larger than"),
    ],
)
def test_given_a_body_that_is_not_a_small_utf8_form_then_a_clear_400(body, headers, message):
    with pytest.raises(InvalidParameter, match=message):
        request(CREATE, body=body, headers=headers).form(CreateBindingForm)


def test_given_a_comma_in_a_query_value_then_it_is_not_split():
    query = request(LIST, query="Identity=a%2Cb&Identity=c").query(ListBindingsQuery)

    assert query.identities == ("a,b", "c")


def test_given_a_get_with_a_form_content_type_then_the_query_still_parses():
    # twilio-python sends Content-Type: application/x-www-form-urlencoded on list GETs.
    assert request(LIST, query="PageSize=2").query(ListBindingsQuery).page_size == 2


def test_given_a_malformed_service_sid_then_not_found():
    event = http_api_event(CREATE, "/v1/Services/IS123/Bindings")

    with pytest.raises(NotFound, match="/Services/IS123/Bindings was not found"):
        _ = ApiRequest(event).service_sid


def test_given_the_request_host_then_urls_are_built_on_it():
    event = http_api_event(
        LIST,
        "/v1/x",
        headers={"Host": "abc.execute-api.eu-west-1.amazonaws.com", "X-Forwarded-Proto": "https"},
    )

    assert ApiRequest(event).base_url == "https://abc.execute-api.eu-west-1.amazonaws.com"
    assert ApiRequest(event, "https://notify.example.com/").base_url == (
        "https://notify.example.com"
    )


def test_given_a_domain_error_then_twilio_error_json_exactly():
    response = error_response(InvalidParameter("Parameter 'Tag' is invalid"))

    assert response["statusCode"] == 400
    assert json.loads(response["body"]) == {
        "code": 20001,
        "message": "Parameter 'Tag' is invalid",
        "more_info": "https://www.twilio.com/docs/errors/20001",
        "status": 400,
    }


def test_given_throttling_then_429_with_retry_after():
    response = error_response(Throttled())

    assert response["statusCode"] == 429
    assert response["headers"]["Retry-After"] == "1"
    assert json.loads(response["body"])["code"] == 20429


def test_given_a_base64_body_then_it_is_decoded():
    event = http_api_event(CREATE, f"/v1/Services/{SERVICE}/Bindings", headers=FORM)
    event["body"] = base64.b64encode(b"Identity=a&BindingType=apn&Address=t").decode()
    event["isBase64Encoded"] = True

    assert ApiRequest(event).form(CreateBindingForm).identity == "a"


def test_given_no_authorizer_context_then_401_20003_with_a_basic_challenge():
    event = http_api_event(LIST, f"/v1/Services/{SERVICE}/Bindings")

    with pytest.raises(Unauthenticated) as raised:
        _ = ApiRequest(event).account_sid
    response = error_response(raised.value)

    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    assert json.loads(response["body"])["code"] == 20003


def test_given_an_authorizer_context_then_its_account_is_the_callers():
    event = http_api_event(LIST, f"/v1/Services/{SERVICE}/Bindings")
    event["requestContext"]["authorizer"] = {"lambda": {"accountSid": "AC" + "1" * 32}}

    assert ApiRequest(event).account_sid == "AC" + "1" * 32


def test_given_an_unknown_parameter_repeated_then_it_is_ignored_like_any_unknown_one():
    parsed = request(CREATE, body=b"Identity=a&BindingType=apn&Address=x&Foo=1&Foo=2&=&=")

    assert parsed.form(CreateBindingForm).identity == "a"


def test_given_a_body_without_a_content_type_then_400_but_no_body_needs_none():
    with_body = http_api_event(CREATE, f"/v1/Services/{SERVICE}/Bindings", body=b"Identity=a")
    without = http_api_event(CREATE, f"/v1/Services/{SERVICE}/Bindings")

    with pytest.raises(InvalidParameter, match="Content-Type must be"):
        ApiRequest(with_body).form(CreateBindingForm)
    with pytest.raises(InvalidParameter, match="Missing required parameter Identity"):
        ApiRequest(without).form(CreateBindingForm)


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Proto": "javascript"},
        {
            "Host": "evil.example",
            "X-Forwarded-Proto": "javascript",
            "X-Forwarded-Host": "x.example",
        },
    ],
)
def test_given_a_client_naming_another_host_or_scheme_then_urls_stay_on_the_apis_domain(headers):
    domain = "abc.execute-api.eu-west-1.amazonaws.com"
    event = http_api_event(LIST, "/v1/x", headers=headers, domain_name=domain)

    assert ApiRequest(event).base_url == f"https://{domain}"
    assert ApiRequest(event, "https://notify.example.com").base_url == "https://notify.example.com"


def test_given_a_stage_other_than_default_then_it_prefixes_the_urls():
    event = http_api_event(LIST, "/v1/x", headers={"Host": "evil.example"}, domain_name="d.example")
    event["requestContext"]["stage"] = "prod"

    assert ApiRequest(event).base_url == "https://d.example/prod"
