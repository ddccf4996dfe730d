"""An HTTP server that does locally what API Gateway does in AWS: match a route of the
template, build the HTTP API event, ask the route's Lambda authorizer, invoke the function,
and write its response back."""

from __future__ import annotations

import base64
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from local_api.events import authorizer_event, http_api_event, with_authorizer_context
from local_api.runtime import LocalFunctions
from local_api.template import Authorizer, Route

log = logging.getLogger("local_api")

_MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
# What API Gateway answers itself: an identity source missing, an authorizer saying no, an
# authorizer failing or answering something else than a simple response.
_UNAUTHORIZED = (401, b'{"message":"Unauthorized"}')
_FORBIDDEN = (403, b'{"message":"Forbidden"}')
_AUTHORIZER_FAILED = (500, b'{"message":"Internal Server Error"}')


class LocalApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], functions: LocalFunctions) -> None:
        super().__init__(address, _RequestHandler)
        self.functions = functions
        self.routes: list[Route] = functions.template.routes

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

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.info("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send(413, b'{"message":"Request Entity Too Large"}', {})
            return
        body = self.rfile.read(length) if length else b""
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

    def _send(self, status: int, content: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        names = {name.lower() for name in headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if content and "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


def _identity_source(authorizer: Authorizer, event: dict[str, Any]) -> list[str] | None:
    """The values of the authorizer's identity sources, None when one is missing."""
    headers = event.get("headers") or {}
    query = event.get("queryStringParameters") or {}
    values = [headers.get(name.lower()) for name in authorizer.identity_headers]
    values += [query.get(name) for name in authorizer.identity_query_strings]
    return None if any(not value for value in values) else [str(value) for value in values]
