"""The events the local API builds beside the route's own: the HTTP API's payload 2.0 REQUEST
authorizer event, the route's event once authorized, and Lambda's SQS batch."""

from __future__ import annotations

import base64
from typing import Any

from local_api.events import authorizer_event, http_api_event, sqs_event, with_authorizer_context
from local_api.template import DEFAULT_ROUTE, Route

FETCH = Route("GET", "/v1/Services/{Sid}", "FetchServiceFunction")
DEFAULT = Route("ANY", DEFAULT_ROUTE, "UnmatchedRouteFunction")
SERVICE = "IS" + "a" * 32


def request() -> dict[str, Any]:
    return http_api_event(
        FETCH,
        f"/v1/Services/{SERVICE}",
        method="GET",
        query="Tag=a&Tag=b",
        headers={"Authorization": "Basic eDp5", "Cookie": "one=1; two=2", "X-Mixed-Case": "v"},
    )


def test_given_a_route_request_when_authorizing_then_the_event_is_payload_2_request_shaped():
    route_event = request()

    event = authorizer_event(route_event)

    assert event == {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": (
            f"arn:aws:execute-api:us-east-1:000000000000:local/$default/GET/v1/Services/{SERVICE}"
        ),
        "identitySource": [],
        "routeKey": "GET /v1/Services/{Sid}",
        "rawPath": f"/v1/Services/{SERVICE}",
        "rawQueryString": "Tag=a&Tag=b",
        "cookies": ["one=1", "two=2"],
        "headers": route_event["headers"],
        "queryStringParameters": {"Tag": "a,b"},
        "requestContext": route_event["requestContext"],
        "pathParameters": {"Sid": SERVICE},
    }
    assert event["headers"]["authorization"] == "Basic eDp5"
    assert event["headers"]["x-mixed-case"] == "v"
    assert "cookie" not in event["headers"]  # payload 2.0 moves it to `cookies`


def test_given_the_default_route_when_authorizing_then_the_arn_names_the_request():
    route_event = http_api_event(DEFAULT, "/nowhere", method="DELETE")

    event = authorizer_event(route_event, ["value"])

    assert event["routeKey"] == "$default"
    assert event["routeArn"].endswith(":local/$default/DELETE/nowhere")
    assert event["identitySource"] == ["value"]
    assert "pathParameters" not in event


def test_given_an_authorizer_event_when_the_authorizer_changes_it_then_the_route_event_is_intact():
    route_event = request()

    authorizer_event(route_event)["requestContext"]["http"]["method"] = "POST"

    assert route_event["requestContext"]["http"]["method"] == "GET"


def test_given_an_authorizer_context_when_attached_then_under_authorizer_lambda_only():
    route_event = request()

    event = with_authorizer_context(route_event, {"accountSid": "AC" + "b" * 32})

    assert event["requestContext"]["authorizer"] == {"lambda": {"accountSid": "AC" + "b" * 32}}
    assert {k: v for k, v in event["requestContext"].items() if k != "authorizer"} == (
        route_event["requestContext"]
    )
    assert "authorizer" not in route_event["requestContext"]


def test_given_received_messages_when_batched_then_lambdas_sqs_record_shape():
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "handle",
        "MD5OfBody": "md5",
        "Body": "hello",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "S"},
        "MD5OfMessageAttributes": "md5-attributes",
        "MessageAttributes": {
            "text": {"DataType": "String", "StringValue": "v"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    }

    (record,) = sqs_event([message], "arn:aws:sqs:eu-west-1:123456789012:Work")["Records"]

    assert record == {
        "messageId": "m-1",
        "receiptHandle": "handle",
        "body": "hello",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "S"},
        "messageAttributes": {
            "text": {
                "stringValue": "v",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {
                "binaryValue": base64.b64encode(b"\x00\x01").decode(),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "md5",
        "md5OfMessageAttributes": "md5-attributes",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:Work",
        "awsRegion": "eu-west-1",
    }
