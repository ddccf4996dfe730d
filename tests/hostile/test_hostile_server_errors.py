"""What the local server answers before any route runs - a request line too long or malformed,
headers too many or too long, another HTTP version - and where its answers' URLs lead: Twilio's
error JSON naming nothing the client sent, and URLs on the server's own host whatever the
client's `Host` and `X-Forwarded-*` say."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.hostile.support import Api, RawReply, assert_twilio_error

# Stands for what a path can hold and an error must not give back: an identity, say.
SECRET = "alice-secret-identity"


def exchange(api: Api, request: bytes) -> RawReply:
    """Exactly `request` on a fresh connection, closed for writing after it (so the server
    reads all of it and has nothing left unread when it closes), and the whole reply."""
    url = urlsplit(api.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, content = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return RawReply(int(status_line.split()[1]), headers, content)


def _path(service: str) -> bytes:
    return f"/v1/Services/{service}/Users/{SECRET}".encode()


@pytest.mark.parametrize(
    ("request_line", "status", "code"),
    [
        (b"GET {path} HTTP/1.1 and-more", 400, 20001),  # four words
        (b"GET {path} HTTP/1.x", 400, 20001),  # no version
        (b"GET {path} HTTP/1", 400, 20001),
        (b"GET {path} HTTP/2.0", 505, 20500),
    ],
)
def test_given_a_request_line_http_server_refuses_then_twilio_json_without_echo(
    hostile_api: Api, hostile_service: str, request_line: bytes, status: int, code: int
):
    line = request_line.replace(b"{path}", _path(hostile_service))

    reply = exchange(hostile_api, line + b"\r\n")

    assert_twilio_error(reply, status, code)
    assert SECRET.encode() not in reply.body
    assert SECRET not in str(reply.headers)
    assert reply.headers.get("Connection") == "close"


def test_given_a_request_line_too_long_then_414_in_twilio_json_without_echo(
    hostile_api: Api, hostile_service: str
):
    start = b"GET " + _path(hostile_service) + b"/"
    line = start + b"x" * (65537 - len(start))  # http.server reads 65,537 bytes at most

    reply = exchange(hostile_api, line)

    assert_twilio_error(reply, 414, 20001)
    assert SECRET.encode() not in reply.body


_LONG_LINE = (b"X-Long: " + SECRET.encode() * 4000)[:65537]  # http.server reads 65,537 at most


@pytest.mark.parametrize(
    "header_block",
    [
        # More than 100 header fields.
        b"".join(f"X-Filler-{n}: {SECRET}\r\n".encode() for n in range(101)),
        # One line longer than 65,536 bytes: exactly what the server reads of it, so that
        # nothing is left unread when it closes (which would reset the connection).
        _LONG_LINE,
    ],
    ids=["too-many", "too-long"],
)
def test_given_header_fields_too_large_then_431_in_twilio_json_without_echo(
    hostile_api: Api, hostile_service: str, header_block: bytes
):
    request = b"GET " + _path(hostile_service) + b" HTTP/1.1\r\n" + header_block

    reply = exchange(hostile_api, request)

    assert_twilio_error(reply, 431, 20001)
    assert SECRET.encode() not in reply.body


# -- URLs: on the server's own host, whatever the client names ---------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Proto": "javascript"},
        {"Host": "evil.example:80", "X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "x.y"},
    ],
)
def test_given_a_client_naming_another_host_or_scheme_then_urls_lead_to_the_server(
    hostile_api: Api, hostile_service: str, hostile_binding: str, headers: dict[str, str]
):
    listed = hostile_api.request(
        "GET", f"/v1/Services/{hostile_service}/Bindings", params={"PageSize": 1}, headers=headers
    )
    fetched = hostile_api.request(
        "GET", f"/v1/Services/{hostile_service}/Bindings/{hostile_binding}", headers=headers
    )

    assert listed.status_code == 200, listed.text
    assert fetched.status_code == 200, fetched.text
    page, binding = listed.json(), fetched.json()
    urls = [page["meta"]["url"], page["meta"]["first_page_url"], binding["url"]]
    urls += [binding["links"]["user"], page["bindings"][0]["url"]]
    assert all(url.startswith(hostile_api.url + "/v1/Services/") for url in urls), urls
