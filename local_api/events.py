"""The events AWS sends the functions, built the way the services build them, for the local
API and the tests: API Gateway HTTP API (payload format 2.0) requests and their Lambda
authorizer's requests, Lambda's SQS batches, and Lambda contexts."""

from __future__ import annotations

import base64
import copy
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from local_api.template import Route

# HTTP APIs pass these content types as text and base64-encode every other body.
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def http_api_event(
    route: Route,
    path: str,
    *,
    method: str | None = None,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    source_ip: str = "127.0.0.1",
    domain_name: str | None = None,
) -> dict[str, Any]:
    """`domain_name` is the API's own (requestContext.domainName, what API Gateway served the
    request as); by default the host the `Host` header names, as for a request to the API's
    domain."""
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    cookie = headers.pop("cookie", "")  # payload 2.0 moves cookies out of the headers
    host = headers.setdefault("host", "127.0.0.1")
    domain = domain_name or host.split(":")[0]
    headers.setdefault("x-forwarded-proto", "http")
    content_type = headers.get("content-type", "")
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method or route.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookie:
        event["cookies"] = [part.strip() for part in cookie.split(";") if part.strip()]
    parameters = route.match(path)
    if parameters:  # absent, as from API Gateway, on routes without any
        event["pathParameters"] = parameters
    if query:
        # API Gateway joins repeated keys with commas here; handlers must read rawQueryString.
        joined: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            joined.setdefault(name, []).append(value)
        event["queryStringParameters"] = {name: ",".join(v) for name, v in joined.items()}
    if body:
        if content_type.startswith(_TEXT_TYPES):
            event["body"] = body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def authorizer_event(
    request: Mapping[str, Any], identity_source: Iterable[str] = ()
) -> dict[str, Any]:
    """What an HTTP API sends a payload 2.0 REQUEST authorizer about a route's `request` event:
    the same request, the route's ARN, and the values of the identity sources (none here)."""
    context = request["requestContext"]
    route_arn = (
        f"arn:aws:execute-api:us-east-1:{context['accountId']}:{context['apiId']}/"
        f"{context['stage']}/{context['http']['method']}/{request['rawPath'].lstrip('/')}"
    )
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn,
        "identitySource": list(identity_source),
        "routeKey": request["routeKey"],
        "rawPath": request["rawPath"],
        "rawQueryString": request["rawQueryString"],
    }
    for key in (
        "cookies",
        "headers",
        "queryStringParameters",
        "requestContext",
        "pathParameters",
        "stageVariables",
    ):
        if key in request:
            event[key] = copy.deepcopy(request[key])
    return event


def with_authorizer_context(event: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """A route's event as API Gateway passes it on once a simple-response authorizer has said
    yes: its `context` under requestContext.authorizer.lambda."""
    request_context = {**event["requestContext"], "authorizer": {"lambda": context}}
    return {**event, "requestContext": request_context}


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source invokes a function with, from the messages of a
    ReceiveMessage (asked for all system and message attributes)."""
    return {"Records": [_sqs_record(message, queue_arn) for message in messages]}


def _sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:  # bytes from boto3, base64 in the event
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [
        base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])
    ]
    attribute["dataType"] = value["DataType"]
    return attribute


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools and handlers read."""

    function_name: str
    memory_limit_in_mb: int = 128
    timeout_seconds: int = 3
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))
