"""What the hostile tests share: the local API as plain HTTP (and as raw bytes on a socket),
and what a clear refusal looks like."""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.e2e.support import Credentials

ERROR_FIELDS = {"code", "message", "more_info", "status"}
TWILIO_CODES = {400: 20001, 401: 20003, 404: 20404, 405: 20004}


@dataclass(frozen=True)
class Api:
    url: str
    account: Credentials
    http: requests.Session

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", (self.account.username, self.account.password))
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.url + path, **kwargs)

    def raw(self, request_line: bytes, headers: dict[str, str], body: bytes = b"") -> RawReply:
        """Exactly these bytes on the wire: what no HTTP client library would send."""
        return raw_exchange(self.url, request_line, self.basic_auth(headers), body)

    def basic_auth(self, headers: dict[str, str]) -> dict[str, str]:
        prepared = requests.Request(
            "GET", self.url, auth=(self.account.username, self.account.password)
        ).prepare()
        return {"Authorization": str(prepared.headers["Authorization"]), **headers}


@dataclass(frozen=True)
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_exchange(
    base_url: str, request_line: bytes, headers: dict[str, str], body: bytes
) -> RawReply:
    url = urlsplit(base_url)
    lines = [request_line, f"Host: {url.netloc}".encode(), b"Connection: close"]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers.items()]
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, content = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    reply_headers = dict(line.split(": ", 1) for line in header_lines)
    return RawReply(int(status_line.split()[1]), reply_headers, content)


def assert_twilio_error(
    response: requests.Response | RawReply, status: int, code: int | None = None
) -> dict[str, Any]:
    """A clear error: the status, Twilio's JSON with exactly its four fields, no trace."""
    if isinstance(response, requests.Response):
        actual, body = response.status_code, response.content
    else:
        actual, body = response.status, response.body
    assert actual == status, body[:300]
    content_type = response.headers.get("Content-Type", "")
    assert content_type.startswith("application/json"), content_type
    error: dict[str, Any] = json.loads(body)
    assert set(error) == ERROR_FIELDS, error
    expected_code = code if code is not None else TWILIO_CODES[status]
    assert error["status"] == status
    assert error["code"] == expected_code
    assert error["more_info"] == f"https://www.twilio.com/docs/errors/{expected_code}"
    assert isinstance(error["message"], str)
    assert error["message"]
    assert not re.search(r"Traceback|File \"|line \d+", error["message"]), error["message"]
    return error


def everything(api: Api) -> dict[str, Any]:
    """The account's Services, and every binding of each, as the API lists them."""
    services = api.request("GET", "/v1/Services", params={"PageSize": 1000}).json()["services"]
    return {
        service["sid"]: {
            "service": service,
            "bindings": api.request(
                "GET", f"/v1/Services/{service['sid']}/Bindings", params={"PageSize": 1000}
            ).json()["bindings"],
        }
        for service in services
    }
