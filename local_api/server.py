"""An HTTP server that does locally what API Gateway does in AWS: match a route of the
template, build the HTTP API event, ask the route's Lambda authorizer, invoke the function,
and write its response back."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from local_api.events import authorizer_event, http_api_event, with_authorizer_context
from local_api.openapi import OUTPUT as OPENAPI_DOCUMENT
from local_api.runtime import LocalFunctions
from local_api.template import Authorizer, Route

log = logging.getLogger("local_api")

_MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
# What API Gateway answers itself: an identity source missing, an authorizer saying no, an
# authorizer failing or answering something else than a simple response.
_UNAUTHORIZED = (401, b'{"message":"Unauthorized"}')
_FORBIDDEN = (403, b'{"message":"Forbidden"}')
_AUTHORIZER_FAILED = (500, b'{"message":"Internal Server Error"}')
# ...and to a request whose body it cannot read (a malformed length or chunk) or will not.
_BAD_REQUEST = (400, b'{"message":"Bad Request"}')
_TOO_LARGE = (413, b'{"message":"Request Entity Too Large"}')
_DIGITS = re.compile(r"[0-9]{1,12}")
_HEX_DIGITS = re.compile(rb"[0-9a-fA-F]{1,8}")
# Bytes of a request line that are neither printable ASCII nor the separators (space, tab).
_UNSAFE_IN_REQUEST_LINE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f-\xff]")
# What http.server refuses before any route is chosen (a request line too long or malformed,
# headers too many or too long, another HTTP version), said in Twilio's error JSON rather than
# its HTML page, which quotes the request line back - an identity in a path, say.
_SERVER_REFUSALS = {
    400: "The request could not be read as HTTP/1.1",
    414: "The request line is too long",
    431: "The request's header fields are too large",
    505: "Only HTTP/1.0 and HTTP/1.1 are served",
}
# Not a route of the template: the local API describes itself, to anyone (no authorizer).
OPENAPI_PATH = "/openapi.json"


class LocalApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], functions: LocalFunctions) -> None:
        super().__init__(address, _RequestHandler)
        self.functions = functions
        self.routes: list[Route] = functions.template.routes
        self.openapi: dict[str, Any] | None = (
            json.loads(OPENAPI_DOCUMENT.read_text()) if OPENAPI_DOCUMENT.exists() else None
        )

    def route_for(self, method: str, path: str) -> Route | None:
        """The route API Gateway would take: a matching method and path, else $default."""
        for route in self.routes:
            if route.method in (method, "ANY") and route.match(path) is not None:
                return route
        return next((route for route in self.routes if route.is_default), None)

    def authorize(
        self, authorizer: Authorizer, event: dict[str, Any]
    ) -> dict[str, Any] | tuple[int, bytes]:
        """The context a simple-response authorizer gives a request it lets through, else
        what API Gateway answers instead of invoking the route."""
        identity = _identity_source(authorizer, event)
        if identity is None:
            return _UNAUTHORIZED
        try:
            response = self.functions.invoke(authorizer.function, authorizer_event(event, identity))
        except Exception:
            log.exception("authorizer %s failed", authorizer.function)
            return _AUTHORIZER_FAILED
        allowed = response.get("isAuthorized") if isinstance(response, dict) else None
        context = response.get("context", {}) if isinstance(response, dict) else None
        if not isinstance(allowed, bool) or not isinstance(context, dict):
            log.error("authorizer %s gave no simple response", authorizer.function)
            return _AUTHORIZER_FAILED
        return context if allowed else _FORBIDDEN

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="local-api", daemon=True)
        thread.start()
        return thread


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    raw_requestline: bytes  # set by handle_one_request; typeshed does not declare it
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, the body of every response on a
    # kept-alive connection (the twilio client keeps them) waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()  # no route has HEAD: $default answers, and _send leaves out the body

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, FOO) goes to the routes too, as API Gateway's $default takes
        # every method: a 405 in Twilio's JSON, rather than http.server's 501 page.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Not the request line: its path can hold an identity (links.user is .../Users/{Identity})
        # and its query string identities, tags and page tokens. The route key instead, as in
        # the API's access log (template.yaml).
        log.info("%s %s %s", self.address_string(), self._route_key(), code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # http.server's other messages (a malformed request line, say) quote what was sent.
        redacted = tuple(arg if isinstance(arg, int) else "[redacted]" for arg in args)
        log.info("%s %s", self.address_string(), format % redacted)

    def _route_key(self) -> str:
        """The route that took the request, "GET /v1/Services/{Sid}" say, else "-"."""
        target, method = getattr(self, "path", None), getattr(self, "command", None)
        path = urlsplit(target).path if target else ""  # ASCII: see parse_request
        if not method or not path:
            return "-"
        if path == OPENAPI_PATH:
            return f"{method} {path}"
        route = self.server.route_for(method, path)
        if route is None:
            return "-"
        return f"{method} {route.route_key}" if route.is_default else route.route_key

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals, as Twilio's error JSON naming nothing the client sent
        (`message` and `explain` may quote its request line, so neither is used)."""
        self.log_message("code %d, %s", code, "refused by the HTTP server")
        status = HTTPStatus(code)
        content = json.dumps(
            {
                "code": 20001 if code < 500 else 20500,
                "message": _SERVER_REFUSALS.get(code, status.phrase),
                "more_info": f"https://www.twilio.com/docs/errors/{20001 if code < 500 else 20500}",
                "status": code,
            }
        ).encode()
        self.close_connection = True  # what follows on the connection cannot be trusted
        # Unread or unreadable, the request's version is taken as 0.9 (a reply without status
        # line or headers): answer as API Gateway would, in HTTP/1.1.
        self.request_version = self.protocol_version
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(content)

    def parse_request(self) -> bool:
        # http.server decodes the request line as Latin-1 and splits it at any whitespace,
        # \xa0 and \x85 included: raw UTF-8 would reach the functions garbled, or make the
        # line unreadable. Percent-encoded first, the functions decode it, or refuse it.
        self.raw_requestline = _UNSAFE_IN_REQUEST_LINE.sub(
            lambda byte: b"%%%02X" % byte[0][0], self.raw_requestline.rstrip(b"\r\n")
        )
        return super().parse_request()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if isinstance(body, tuple):  # the rest of the stream cannot be trusted: close it
            self._send(*body, {"Connection": "close"})
            return
        if url.path == OPENAPI_PATH and self.command in ("GET", "HEAD") and self.server.openapi:
            self._send(200, self._openapi_document(), {})
            return
        route = self.server.route_for(self.command, url.path)
        if route is None:  # what API Gateway answers when nothing matches, not even $default
            self._send(404, b'{"message":"Not Found"}', {})
            return
        event = http_api_event(
            route,
            url.path,
            method=self.command,
            query=url.query,
            headers=dict(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            # The server's own name, as API Gateway gives its domain: never the client's Host.
            domain_name=str(self.server.server_address[0]),
        )
        if route.authorizer is not None:
            outcome = self.server.authorize(route.authorizer, event)
            if isinstance(outcome, tuple):
                self._send(*outcome, {})
                return
            event = with_authorizer_context(event, outcome)
        try:
            response = self.server.functions.invoke(route.function, event)
        except Exception:  # what API Gateway answers when the function itself fails
            log.exception("%s failed", route.function)
            self._send(502, b'{"message":"Internal Server Error"}', {})
            return
        payload = response.get("body") or ""
        content = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self._send(int(response["statusCode"]), content, response.get("headers") or {})

    def _body(self) -> bytes | tuple[int, bytes]:
        """The request body, or what API Gateway answers instead of reading it."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body()
        declared = self.headers.get("Content-Length")
        if declared is not None and not _DIGITS.fullmatch(declared.strip()):
            return _BAD_REQUEST
        length = int(declared or 0)
        if length > _MAX_BODY:
            return _TOO_LARGE
        return self.rfile.read(length) if length else b""

    def _chunked_body(self) -> bytes | tuple[int, bytes]:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            if not _HEX_DIGITS.fullmatch(size_line):
                return _BAD_REQUEST
            size = int(size_line, 16)
            total += size
            if total > _MAX_BODY:
                return _TOO_LARGE
            if size == 0:
                break
            chunks.append(self.rfile.read(size))
            if self.rfile.readline(1024).strip():
                return _BAD_REQUEST
        while self.rfile.readline(1024).strip():  # trailers, up to the blank line
            pass
        return b"".join(chunks)

    def _openapi_document(self) -> bytes:
        """The project's openapi.json, with this server (as the client named it) as its server."""
        host = self.headers.get("Host") or self.server.base_url.removeprefix("http://")
        document = {**(self.server.openapi or {}), "servers": [{"url": f"http://{host}"}]}
        return json.dumps(document, indent=2).encode()

    def _send(self, status: int, content: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        names = {name.lower() for name in headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if content and "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)


def _identity_source(authorizer: Authorizer, event: dict[str, Any]) -> list[str] | None:
    """The values of the authorizer's identity sources, None when one is missing."""
    headers = event.get("headers") or {}
    query = event.get("queryStringParameters") or {}
    values = [headers.get(name.lower()) for name in authorizer.identity_headers]
    values += [query.get(name) for name in authorizer.identity_query_strings]
    return None if any(not value for value in values) else [str(value) for value in values]
