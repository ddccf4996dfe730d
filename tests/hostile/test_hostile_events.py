"""What no HTTP client can send but a Lambda event can carry: the handlers, invoked as Lambda
would invoke them behind the authorizer, refuse it in Twilio's JSON and write nothing."""

from __future__ import annotations

import base64
import json

import pytest

from local_api.events import http_api_event, with_authorizer_context
from tests.hostile.support import ERROR_FIELDS


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not base64!", "could not be decoded"),
        ("RnJpZW5kbHlOYW1lPW0", "could not be decoded"),  # base64 without its padding
        (base64.b64encode(b"FriendlyName=m&Identity=\xff").decode(), "not valid UTF-8"),
    ],
)
@pytest.mark.parametrize("logical_id", ["CreateBindingFunction", "UpdateServiceFunction"])
def test_given_a_base64_body_that_does_not_decode_to_a_utf8_form_then_400(
    functions, account, service_sid, logical_id, body, message
):
    (route,) = functions.functions[logical_id].routes
    path = route.path.replace("{ServiceSid}", service_sid).replace("{Sid}", service_sid)
    event = http_api_event(
        route, path, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    event = with_authorizer_context(event, {"accountSid": account.sid})
    event.update(body=body, isBase64Encoded=True)

    response = functions.invoke(logical_id, event)

    error = json.loads(response["body"])
    assert (response["statusCode"], set(error), error["code"]) == (400, ERROR_FIELDS, 20001)
    assert message in error["message"]
    listed = functions.invoke(
        "ListBindingsFunction",
        with_authorizer_context(
            http_api_event(
                functions.functions["ListBindingsFunction"].routes[0],
                f"/v1/Services/{service_sid}/Bindings",
            ),
            {"accountSid": account.sid},
        ),
    )
    assert json.loads(listed["body"])["bindings"] == []
    fetched = functions.invoke(
        "FetchServiceFunction",
        with_authorizer_context(
            http_api_event(
                functions.functions["FetchServiceFunction"].routes[0],
                f"/v1/Services/{service_sid}",
            ),
            {"accountSid": account.sid},
        ),
    )
    assert json.loads(fetched["body"])["friendly_name"] is None
