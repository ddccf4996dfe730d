"""API Gateway HTTP API (payload format 2.0) events and Lambda contexts, built the way the
service builds them, for the local API and the tests."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
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
) -> dict[str, Any]:
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    host = headers.setdefault("host", "127.0.0.1")
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
            "domainName": host.split(":")[0],
            "domainPrefix": host.split(".")[0],
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
