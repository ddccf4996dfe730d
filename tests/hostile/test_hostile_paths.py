"""Methods no route has, paths that only nearly name a resource (encoded slashes and dots,
malformed SIDs), bytes no client library would put in a request line, and request framing
the local API must not trip over."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from local_api.template import SamTemplate
from tests.hostile.support import Api, assert_twilio_error, raw_exchange

PATHS = [
    "/v1/Services",
    "/v1/Services/{service}",
    "/v1/Services/{service}/Bindings",
    "/v1/Services/{service}/Bindings/{binding}",
]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# A form every POST route accepts: a new binding, or a Service renamed or created.
ACCEPTED_FORM = "Identity=mallory&BindingType=apn&Address=mallory-token&FriendlyName=mallory"


def allowed_methods(template_path: str) -> set[str]:
    """The methods template.yaml routes on a path, as "/v1/Services/{Sid}" writes it."""
    routes = SamTemplate.load().routes
    shape = template_path.replace("{service}", "{}").replace("{binding}", "{}")
    return {
        route.method
        for route in routes
        if not route.is_default
        and route.path.replace("{Sid}", "{}").replace("{ServiceSid}", "{}") == shape
    }


@pytest.mark.parametrize("path", PATHS)
def test_given_a_method_the_path_has_no_route_for_then_405_naming_those_it_has(
    hostile_api: Api, hostile_service: str, hostile_binding: str, subtests, path: str
):
    allowed = allowed_methods(path)
    url = path.format(service=hostile_service, binding=hostile_binding)
    others = {"GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "PROPFIND"} - allowed
    for method in sorted(others):
        with subtests.test(method):
            reply = hostile_api.request(method, url, data=ACCEPTED_FORM, headers=FORM)

            error = assert_twilio_error(reply, 405)
            assert error["message"] == f"Method not allowed: {method}"
            assert set(reply.headers["Allow"].split(", ")) == allowed


@pytest.mark.parametrize("path", PATHS)
def test_given_head_on_a_path_then_405_with_no_body(
    hostile_api: Api, hostile_service: str, hostile_binding: str, path: str
):
    url = path.format(service=hostile_service, binding=hostile_binding)

    reply = hostile_api.request("HEAD", url)

    assert reply.status_code == 405
    assert reply.content == b""
    assert set(reply.headers["Allow"].split(", ")) == allowed_methods(path)


NEAR_PATHS = [
    "/v1/Services%2F{service}",
    "/v1/Services/{service}%2FBindings",
    "/v1/Services/{service}%2fBindings%2f{binding}",
    "/v1/Services/{service}/Bindings%2F{binding}",
    "/v1/Services/%2e%2e",
    "/v1/Services/{service}%2F%2E%2E",
    "/v1/Services/{service}/Bindings/%2e%2e%2f{binding}",
    "/v1/Services/{service}/Bindings/..%2F..%2F{service}",
    "/v1/Services/{service}/./Bindings",
    "/v1/Services/{service}/../{service}",
    "/v1/%2e/Services/{service}",
    "/v1/Services/{service}%00",
    "/v1/Services/{service}%20",
    "/v1/Services/{service};x=1",
    "/v1/Services/{service}/Bindings/{binding}/",
    "/v1/Services/{service_lower}",
    "/v1/Services/{service}0",
    "/v1/Services/{service_short}/Bindings",
    "/v1/Services/{binding}/Bindings",
    "/v1/Services/{service}/Bindings/{service}",
    "/v1/Services/%EF%BC%A9%EF%BC%B3{service_tail}",  # "IS" in fullwidth letters
]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", NEAR_PATHS)
def test_given_a_path_that_only_nearly_names_a_resource_then_404_or_405(
    hostile_api: Api, hostile_service: str, hostile_binding: str, path: str, method: str
):
    target = path.format(
        service=hostile_service,
        binding=hostile_binding,
        service_lower="is" + hostile_service[2:],
        service_short=hostile_service[:-1],
        service_tail=hostile_service[2:],
    )
    # Exactly these bytes: a client library might normalize the dots or the escapes.
    reply = hostile_api.raw(
        f"{method} {target} HTTP/1.1".encode(),
        {**FORM, "Content-Length": str(len(ACCEPTED_FORM))},
        ACCEPTED_FORM.encode(),
    )

    # 405 where the path has the shape of a route that takes other methods.
    assert_twilio_error(reply, 405 if reply.status == 405 else 404)
    if reply.status == 405:
        assert method not in reply.headers["Allow"].split(", ")


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"/v1/Services?FriendlyName=\xff", 400),
        (b"/v1/Services/{service}/Bindings?Identity=\xc3", 400),
        (b"/v1/Services/{service}/Bindings?Tag=\xed\xa0\x80", 400),
        (b"/v1/Services/{service}\xff", 404),
        (b"/v1/Services/\xef\xbc\xa9\xef\xbc\xb3" + b"0" * 32, 404),
    ],
)
def test_given_raw_bytes_outside_ascii_in_the_request_line_then_a_clear_error(
    hostile_api: Api, hostile_service: str, target: bytes, status: int
):
    line = b"GET " + target.replace(b"{service}", hostile_service.encode()) + b" HTTP/1.1"

    assert_twilio_error(hostile_api.raw(line, {}), status)


def test_given_raw_utf8_in_a_query_then_it_is_read_as_utf8(hostile_api: Api):
    """Not garbled as Latin-1: what a proxy passing the bytes on would make of them."""
    reply = hostile_api.raw(b"GET /v1/Services?FriendlyName=caf\xc3\xa9 HTTP/1.1", {})

    assert reply.status == 200
    assert "FriendlyName=caf%C3%A9&" in reply.json()["meta"]["url"]


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "0x10", "", "1 2"])
def test_given_a_malformed_content_length_then_400_and_the_connection_closes(
    hostile_api: Api, length: str
):
    # API Gateway answers this itself, before any function runs: with its own JSON.
    reply = raw_exchange(
        hostile_api.url,
        b"POST /v1/Services HTTP/1.1",
        hostile_api.basic_auth({**FORM, "Content-Length": length}),
        b"FriendlyName=mallory",
    )

    assert (reply.status, reply.body) == (400, b'{"message":"Bad Request"}')
    assert reply.headers["Connection"] == "close"


def test_given_a_chunked_body_then_it_is_read_whole_and_the_next_request_is_framed(
    hostile_api: Api,
):
    """A chunked body left unread would be taken for the next request on the connection."""
    form = b"FriendlyName=mal\x00lory"  # refused, naming what was in the chunks
    chunked = b"5\r\n" + form[:5] + b"\r\n" + f"{len(form) - 5:x}\r\n".encode()
    chunked += form[5:] + b"\r\n0\r\n\r\n"
    url = urlsplit(hostile_api.url)
    head = f"Host: {url.netloc}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in hostile_api.basic_auth(FORM).items()
    )
    first = f"POST /v1/Services HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n"
    second = f"GET /v1/Nothing HTTP/1.1\r\n{head}Connection: close\r\n\r\n"

    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        connection.sendall(first.encode() + chunked + second.encode())
        received = b""
        while chunk := connection.recv(65536):
            received += chunk

    replies = received.split(b"HTTP/1.1 ")[1:]
    assert [reply[:3] for reply in replies] == [b"400", b"404"]
    assert b"Parameter 'FriendlyName' is invalid" in replies[0]
    assert b"/Nothing was not found" in replies[1]
