"""A Service's bindings over HTTP, through the official twilio client: Twilio itself, or any
deployment of notify-bindings (the client's `notify.base_url` pointed at it).

Answers that say "later" are waited for and tried again: 429 and 5xx, with the wait their
`Retry-After` asks for (else a growing one), and requests that could not connect or timed out.
Creates are safe to repeat (an identical create leaves the binding as it is), so a write whose
answer was lost is simply sent again.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from notify_migrate.records import Record, StoredBinding

TWILIO_URL = "https://notify.twilio.com"
SERVICE_SID = re.compile(r"IS[0-9a-f]{32}")
DEFAULT_PAGE_SIZE = 1000  # the most a page holds, at Twilio and here
MIN_PAGE_SIZE = 50
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
SERVER_ERRORS = frozenset({500, 502, 503, 504})
# 4xx answers that are about the request's credentials, Service or timing, not the binding.
NOT_REFUSALS = frozenset({401, 403, 404, 408, 429})
WRITE_ATTEMPTS = 8  # about two minutes of waiting, at most
LIST_ATTEMPTS = 3  # then a smaller page is tried
MAX_WAIT_SECONDS = 30.0
TIMEOUT_SECONDS = 30.0
_CREATE_FAILED = "Unable to create record: "  # twilio-python's words before the API's
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class MissingCredentials(Exception):
    """The environment holds no credentials for a side."""


class Stopped(Exception):
    """The run is stopping (interrupted, or another request failed): not attempted again."""


class RemoteFailure(Exception):
    """The API answered what retrying cannot change (401, 404, 5xx after retries), or could
    not be reached: the run stops. `status` is None when no answer came."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Refused(Exception):
    """The API refused this binding (a 4xx about its values): the record is rejected."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Credentials:
    """HTTP Basic: an Account SID and its auth token, or an API key SID and its secret with
    the key's Account SID."""

    username: str
    password: str
    account_sid: str

    @classmethod
    def from_environment(cls, prefix: str, environ: Mapping[str, str] = os.environ) -> Credentials:
        """`{prefix}ACCOUNT_SID` with `{prefix}AUTH_TOKEN`, or with `{prefix}API_KEY_SID` and
        `{prefix}API_KEY_SECRET`."""
        account = environ.get(f"{prefix}ACCOUNT_SID", "")
        key, secret = (
            environ.get(f"{prefix}API_KEY_SID", ""),
            environ.get(f"{prefix}API_KEY_SECRET"),
        )
        token = environ.get(f"{prefix}AUTH_TOKEN", "")
        if not account:
            raise MissingCredentials(
                f"set {prefix}ACCOUNT_SID and {prefix}AUTH_TOKEN "
                f"(or {prefix}API_KEY_SID and {prefix}API_KEY_SECRET)"
            )
        if key or secret:
            if not (key and secret):
                raise MissingCredentials(f"set both {prefix}API_KEY_SID and {prefix}API_KEY_SECRET")
            return cls(key, secret, account)
        if not token:
            raise MissingCredentials(
                f"set {prefix}AUTH_TOKEN (or {prefix}API_KEY_SID and {prefix}API_KEY_SECRET)"
            )
        return cls(account, token, account)


class RetryingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # the client is untyped
    """The twilio client's HTTP client, trying again what the API asks to try later.

    `server_error_attempts` bounds the tries of a 5xx or of a request that got no answer;
    a 429 (throttled) is always tried WRITE_ATTEMPTS times. Every wait ends at once when
    `stopping` is set, with Stopped."""

    def __init__(self, stopping: threading.Event, server_error_attempts: int, url: str) -> None:
        super().__init__(timeout=TIMEOUT_SECONDS)
        self._stopping = stopping
        self._server_error_attempts = server_error_attempts
        if urlsplit(url).hostname in _LOOPBACK:
            # A proxy named by the environment must not see requests to this machine.
            self.session.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        attempt = 0
        while True:
            attempt += 1
            if self._stopping.is_set():
                raise Stopped()
            try:
                response: Response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt >= self._server_error_attempts:
                    raise RemoteFailure(f"{method} {_path(url)}: no answer ({error})") from None
                wait = _backoff(attempt)
            else:
                status = response.status_code
                limit = self._server_error_attempts if status in SERVER_ERRORS else WRITE_ATTEMPTS
                if status not in RETRIED_STATUSES or attempt >= limit:
                    return response
                wait = retry_after(response.headers, time.time()) or _backoff(attempt)
            if self._stopping.wait(min(wait, MAX_WAIT_SECONDS)):
                raise Stopped()


class Remote:
    """One Service of one API, with a client per thread (the HTTP client keeps a session)."""

    def __init__(
        self, url: str, service_sid: str, credentials: Credentials, stopping: threading.Event
    ) -> None:
        self.url = url.rstrip("/")
        self.service_sid = service_sid
        self._credentials = credentials
        self._stopping = stopping
        self._local = threading.local()
        self._reader = self._client(LIST_ATTEMPTS)

    def describe(self) -> str:
        return f"{self.service_sid} at {self.url}"

    def check_service(self) -> None:
        """Fetch the Service: a 401 or 404 is better said before anything else happens."""
        self._get_json(self._reader, f"{self.url}/v1/Services/{self.service_sid}")

    def bindings(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        on_page_size: Callable[[int], None] = lambda size: None,
    ) -> Iterator[dict[str, Any]]:
        """Every binding of the Service, as its JSON, page by page in the API's order.

        A page that keeps failing with a 5xx or no answer (a listing that takes too long for
        the API's timeout, say) is asked again at half the size, down to MIN_PAGE_SIZE;
        `on_page_size` hears of each new size."""
        url: str | None = _with_page_size(
            f"{self.url}/v1/Services/{self.service_sid}/Bindings", page_size
        )
        while url is not None:
            try:
                page = self._get_json(self._reader, url)
            except RemoteFailure as failure:
                if failure.status not in (None, *SERVER_ERRORS) or page_size <= MIN_PAGE_SIZE:
                    raise
                page_size = max(MIN_PAGE_SIZE, page_size // 2)
                on_page_size(page_size)
                url = _with_page_size(url, page_size)
                continue
            yield from page.get(page.get("meta", {}).get("key", "bindings"), [])
            next_url = page.get("meta", {}).get("next_page_url")
            url = _with_page_size(next_url, page_size) if next_url else None

    def create(self, record: Record) -> StoredBinding:
        """Create the record's binding; raises Refused (a 4xx about the binding),
        RemoteFailure or Stopped."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._client(WRITE_ATTEMPTS)
        try:
            created = client.notify.v1.services(self.service_sid).bindings.create(
                **record.create_arguments()
            )
        except TwilioException as error:
            status = getattr(error, "status", None)
            message = _message(error)
            if isinstance(status, int) and 400 <= status < 500 and status not in NOT_REFUSALS:
                raise Refused(message, status) from None
            raise RemoteFailure(
                f"POST {self.url}/v1/Services/{self.service_sid}/Bindings: {message}",
                status if isinstance(status, int) else None,
            ) from None
        return StoredBinding(
            sid=created.sid,
            identity=created.identity,
            binding_type=created.binding_type,
            tags=frozenset(created.tags or ()),
            credential_sid=created.credential_sid,
            notification_protocol_version=created.notification_protocol_version,
        )

    def _client(self, server_error_attempts: int) -> Any:
        http_client = RetryingHttpClient(self._stopping, server_error_attempts, self.url)
        credentials = self._credentials
        client = Client(
            credentials.username,
            credentials.password,
            credentials.account_sid,
            http_client=http_client,
            environment={},  # no TWILIO_EDGE / TWILIO_REGION rewriting of the host
        )
        client.notify.base_url = self.url
        return client

    def _get_json(self, client: Any, url: str) -> dict[str, Any]:
        response = client.request("GET", url)
        body = _json(response.text)
        if response.status_code != 200:
            status = response.status_code
            message = body.get("message") if isinstance(body.get("message"), str) else ""
            what = {401: "the credentials were refused", 404: "not found"}.get(status, "failed")
            raise RemoteFailure(
                f"GET {_path(url)}: {what} ({status}{f': {message}' if message else ''})", status
            )
        return body


def retry_after(headers: Mapping[str, str] | None, now: float) -> float | None:
    """The seconds a `Retry-After` header asks to wait (a number or an HTTP date), if any."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


def _backoff(attempt: int) -> float:
    # Jitter spreads the retries of concurrent workers; it needs no unpredictability.
    jitter = random.uniform(0.5, 1.0)  # noqa: S311 - jitter  # nosec B311
    return min(MAX_WAIT_SECONDS, 0.5 * 2.0 ** (attempt - 1)) * jitter


def _with_page_size(url: str, page_size: int) -> str:
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "PageSize"]
    return urlunsplit(parts._replace(query=urlencode([("PageSize", str(page_size)), *query])))


def _path(url: str) -> str:
    """A URL without its query string, which may hold identities and tags."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def _json(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(error: TwilioException) -> str:
    """The API's message. twilio-python prefixes it with what it was doing."""
    for name in ("msg", "detail"):
        value = getattr(error, name, None)
        if isinstance(value, str) and value:
            return value.removeprefix(_CREATE_FAILED)
    return type(error).__name__
