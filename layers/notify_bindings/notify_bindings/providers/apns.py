"""Apple Push Notification service: the HTTP/2 provider API.

`ApnsConnections` is the pool of one credential's HTTP/2 connections: up to `size` of them
(APNS_CONNECTIONS, 4 by default), opened as concurrent sends need them and kept open for the
life of the process (Apple treats rapid reconnects as abuse); for certificate credentials each
presents the TLS client certificate. Each connection is an httpx.Client that carries one
request at a time: httpcore's synchronous HTTP/2 (1.0.9) is not thread-safe - threads sharing
a connection allocate stream IDs out of order and the server ends the connection
(StreamIDTooLowError; seen in this project's tests, fixed upstream only in a fork). A send
takes an idle connection (the most recently used, so that a single sender keeps to one),
opens one more while fewer than `size` are open, or else waits for one. What belongs to the
credential is made once for all its connections: the TLS context (the process's shared one,
or for a certificate one context with the certificate loaded) and the provider token.
Token-based credentials of different teams must not share a pool: APNs refuses tokens of a
second team on a connection. The caller keeps the pool, and the `ApnsClient` over it, across
invocations (a cache keyed by credential, say).

`ApnsClient.send` sends one notification and classifies the answer as an `Outcome`. It may be
called from any number of threads: they share the pool's connections and the credential's
`ProviderTokens`, so that every connection presents the same token.

Provider tokens (token auth) are ES256 JWTs with `kid`, `iss` and `iat`, made once and reused
for `refresh_after` seconds (40 minutes by default; Apple refuses tokens older than an hour and
answers 429 TooManyProviderTokenUpdates to tokens renewed more often than every 20 minutes).
After a 403 ExpiredProviderToken the client makes one fresh token and sends once more.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from notify_bindings.providers._transport import (
    DEFAULT_TIMEOUT,
    client_certificate_refused,
    lost_exchange,
    new_tls_context,
    shared_tls_context,
)
from notify_bindings.providers.credentials import ApnsCertificate, ApnsTokenKey
from notify_bindings.providers.outcomes import (
    APNS_EXPIRED_PROVIDER_TOKEN,
    APNS_HANDSHAKE_FAILED,
    APNS_INVALID_CREDENTIALS,
    APNS_INVALID_PROVIDER_TOKEN,
    APNS_INVALID_TOKEN,
    APNS_PAYLOAD_TOO_LARGE,
    APNS_TOKEN_MISSING,
    APNS_TOO_MANY_TOKEN_UPDATES,
    APNS_UNAVAILABLE,
    INTERNAL_ERROR,
    Disposition,
    Outcome,
    retry_after_seconds,
)

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"
MAX_PAYLOAD_BYTES = 4096
MAX_VOIP_PAYLOAD_BYTES = 5120
# Apple: renew a provider token no more often than every 20 minutes, at least every 60.
MIN_TOKEN_SECONDS = 20 * 60
MAX_TOKEN_SECONDS = 60 * 60
TOKEN_REFRESH_SECONDS = 40 * 60
# How long an unused connection stays open. Apple asks for long-lived connections; a
# connection APNs closed meanwhile is noticed (readable while idle) and replaced on next use.
KEEPALIVE_SECONDS = 30 * 60
# HTTP/2 connections per credential (APNS_CONNECTIONS bounds it in a deployment).
DEFAULT_CONNECTIONS = 4
MAX_CONNECTIONS = 32
# Device tokens are hexadecimal; anything but letters and digits cannot go into the path.
_DEVICE_TOKEN = re.compile(r"[0-9A-Za-z]{1,200}")

Clock = Callable[[], float]

# reason -> (disposition, Twilio code); what a reason not listed means depends on the status.
_REASONS: dict[str, tuple[Disposition, int]] = {
    "Unregistered": (Disposition.DEAD_ADDRESS, APNS_INVALID_TOKEN),
    "ExpiredToken": (Disposition.DEAD_ADDRESS, APNS_INVALID_TOKEN),
    "BadDeviceToken": (Disposition.DEAD_ADDRESS, APNS_INVALID_TOKEN),
    "DeviceTokenNotForTopic": (Disposition.DEAD_ADDRESS, APNS_INVALID_TOKEN),
    "MissingDeviceToken": (Disposition.FAILED, APNS_TOKEN_MISSING),
    "PayloadTooLarge": (Disposition.FAILED, APNS_PAYLOAD_TOO_LARGE),
    "BadCertificate": (Disposition.CREDENTIAL_REFUSED, APNS_INVALID_CREDENTIALS),
    "BadCertificateEnvironment": (Disposition.CREDENTIAL_REFUSED, APNS_INVALID_CREDENTIALS),
    "Forbidden": (Disposition.CREDENTIAL_REFUSED, APNS_INVALID_CREDENTIALS),
    "BadEnvironmentKeyInToken": (Disposition.CREDENTIAL_REFUSED, APNS_INVALID_PROVIDER_TOKEN),
    "InvalidProviderToken": (Disposition.CREDENTIAL_REFUSED, APNS_INVALID_PROVIDER_TOKEN),
    "MissingProviderToken": (Disposition.CREDENTIAL_REFUSED, APNS_INVALID_PROVIDER_TOKEN),
    "ExpiredProviderToken": (Disposition.CREDENTIAL_REFUSED, APNS_EXPIRED_PROVIDER_TOKEN),
    "TooManyProviderTokenUpdates": (Disposition.RETRY, APNS_TOO_MANY_TOKEN_UPDATES),
    "TooManyRequests": (Disposition.RETRY, APNS_UNAVAILABLE),
    "IdleTimeout": (Disposition.RETRY, APNS_UNAVAILABLE),
    "InternalServerError": (Disposition.RETRY, APNS_UNAVAILABLE),
    "ServiceUnavailable": (Disposition.RETRY, APNS_UNAVAILABLE),
    "Shutdown": (Disposition.RETRY, APNS_UNAVAILABLE),
}


@dataclass(frozen=True, slots=True)
class ApnsNotification:
    """One APNs request. `payload` is the JSON payload (a mapping, or its encoded bytes);
    `topic` overrides the credential's (a `.voip` topic, say); the others are the headers of
    the same names, left out when None (APNs then uses its defaults: priority 10, stored
    until delivered or expired by APNs' own rules, a generated apns-id)."""

    device_token: str
    payload: Mapping[str, Any] | bytes
    push_type: str = "alert"
    priority: int | None = None
    expiration: int | None = None
    collapse_id: str | None = None
    apns_id: str | None = None
    topic: str | None = None


class ProviderTokens:
    """The ES256 provider token of one APNs key, reused until it is `refresh_after` seconds
    old by `clock` (a Unix time in seconds; injectable for tests). Thread-safe."""

    def __init__(
        self,
        key: ApnsTokenKey,
        *,
        clock: Clock = time.time,
        refresh_after: float = TOKEN_REFRESH_SECONDS,
    ) -> None:
        if not MIN_TOKEN_SECONDS <= refresh_after <= MAX_TOKEN_SECONDS:
            raise ValueError("refresh_after must be between 20 and 60 minutes")
        self._key = key
        self._clock = clock
        self._refresh_after = refresh_after
        self._lock = threading.Lock()
        self._token: str | None = None
        self._issued_at = 0.0

    def current(self) -> str:
        with self._lock:
            if self._token is None or self._clock() - self._issued_at >= self._refresh_after:
                return self._renew()
            return self._token

    def replace(self, rejected: str) -> str:
        """A fresh token after APNs called `rejected` expired; when another thread already
        replaced it, that thread's token (so concurrent refusals make one new token)."""
        with self._lock:
            if self._token is None or self._token == rejected:
                return self._renew()
            return self._token

    def _renew(self) -> str:
        issued_at = self._clock()
        token = jwt.encode(
            {"iss": self._key.team_id, "iat": int(issued_at)},
            self._key.private_key,
            algorithm="ES256",
            headers={"kid": self._key.key_id},
        )
        self._token, self._issued_at = token, issued_at
        return token


def apns_http_client(
    credential: ApnsCertificate | ApnsTokenKey,
    *,
    ca_file: str | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    context: ssl.SSLContext | None = None,
) -> httpx.Client:
    """One HTTP/2 connection for one credential's sends. `ca_file` replaces the public CAs (a
    local stand-in's self-signed CA); the real hosts are verified against certifi's bundle.
    `context`: one made already by `apns_tls_context` for this credential."""
    return httpx.Client(
        http1=False,
        http2=True,
        verify=context or apns_tls_context(credential, ca_file),
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=1, max_keepalive_connections=1, keepalive_expiry=KEEPALIVE_SECONDS
        ),
    )


def apns_tls_context(
    credential: ApnsCertificate | ApnsTokenKey, ca_file: str | None = None
) -> ssl.SSLContext:
    """The TLS context of a credential's connections: the process's shared one for a token
    key; a context of its own, with the client certificate loaded, for a certificate."""
    if isinstance(credential, ApnsCertificate):
        context = new_tls_context(ca_file)
        _load_client_certificate(context, credential)
        return context
    return shared_tls_context(ca_file)


class PoolClosed(RuntimeError):
    """The pool was closed (its credential refused or evicted) while a send waited for it."""


class ApnsConnections:
    """Up to `size` HTTP/2 connections of one credential, each used by one send at a time
    (see the module's docstring). Thread-safe."""

    def __init__(
        self,
        credential: ApnsCertificate | ApnsTokenKey,
        *,
        size: int = DEFAULT_CONNECTIONS,
        ca_file: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        if not 1 <= size <= MAX_CONNECTIONS:
            raise ValueError(f"size must be between 1 and {MAX_CONNECTIONS}")
        self._credential = credential
        self._size = size
        self._ca_file = ca_file
        self._timeout = timeout
        self._context: ssl.SSLContext | None = None  # made with the first connection
        self._context_lock = threading.Lock()
        self._available = threading.Condition()
        self._idle: list[httpx.Client] = []
        self._all: list[httpx.Client] = []
        self._opening = 0
        self._closed = False

    @classmethod
    def of(cls, http: httpx.Client, credential: ApnsCertificate | ApnsTokenKey) -> ApnsConnections:
        """A pool of the one client `http` (which its caller keeps and closes)."""
        pool = cls(credential, size=1)
        pool._all.append(http)
        pool._idle.append(http)
        return pool

    @property
    def opened(self) -> int:
        """How many connections (clients) the pool holds."""
        with self._available:
            return len(self._all)

    @contextmanager
    def connection(self) -> Iterator[httpx.Client]:
        """An idle connection, a new one while fewer than `size` are open, or else the first
        one given back; raises PoolClosed once the pool is closed."""
        http = self._take()
        if http is None:
            http = self._open()
        try:
            yield http
        finally:
            self._give_back(http)

    def close(self) -> None:
        """Closes the idle connections now and the busy ones when they are given back."""
        with self._available:
            self._closed = True
            idle, self._idle = self._idle, []
            self._available.notify_all()
        for http in idle:
            http.close()

    def _take(self) -> httpx.Client | None:
        with self._available:
            while True:
                if self._closed:
                    raise PoolClosed("the APNs connections were closed")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._opening < self._size:
                    self._opening += 1
                    return None
                self._available.wait()

    def _open(self) -> httpx.Client:
        try:
            with self._context_lock:  # one context for all of the credential's connections
                if self._context is None:
                    self._context = apns_tls_context(self._credential, self._ca_file)
            http = apns_http_client(self._credential, timeout=self._timeout, context=self._context)
        except BaseException:
            with self._available:
                self._opening -= 1
                self._available.notify()
            raise
        with self._available:
            self._opening -= 1
            self._all.append(http)
        return http

    def _give_back(self, http: httpx.Client) -> None:
        with self._available:
            closed = self._closed
            if not closed:
                self._idle.append(http)
                self._available.notify()
        if closed:
            http.close()


class ApnsClient:
    """Sends notifications with one APNs credential through `connections` (an
    `ApnsConnections`, or one httpx.Client from `apns_http_client`: a pool of that one).

    `base_url` defaults to Apple's production or sandbox host as `sandbox` says; `clock`
    dates provider tokens (token auth), `tokens` may be given to share them."""

    def __init__(
        self,
        connections: ApnsConnections | httpx.Client,
        credential: ApnsCertificate | ApnsTokenKey,
        *,
        sandbox: bool = False,
        base_url: str | None = None,
        clock: Clock = time.time,
        tokens: ProviderTokens | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        if isinstance(connections, httpx.Client):
            connections = ApnsConnections.of(connections, credential)
        self._connections = connections
        self._credential = credential
        self._base_url = (base_url or (SANDBOX_URL if sandbox else PRODUCTION_URL)).rstrip("/")
        self._timeout = timeout
        self._tokens: ProviderTokens | None = None
        if isinstance(credential, ApnsTokenKey):
            self._tokens = tokens or ProviderTokens(credential, clock=clock)

    @property
    def base_url(self) -> str:
        return self._base_url

    def send(self, notification: ApnsNotification) -> Outcome:
        if not _DEVICE_TOKEN.fullmatch(notification.device_token):
            return Outcome.refused(Disposition.FAILED, APNS_TOKEN_MISSING, reason="BadDeviceToken")
        body = _encoded(notification.payload)
        limit = MAX_VOIP_PAYLOAD_BYTES if notification.push_type == "voip" else MAX_PAYLOAD_BYTES
        if len(body) > limit:
            return Outcome.refused(
                Disposition.FAILED, APNS_PAYLOAD_TOO_LARGE, reason="PayloadTooLarge"
            )
        url = f"{self._base_url}/3/device/{notification.device_token}"
        headers = self._headers(notification)
        token = self._tokens.current() if self._tokens is not None else None
        outcome, reason = self._post(url, headers, body, token)
        if reason == "ExpiredProviderToken" and self._tokens is not None and token is not None:
            outcome, _ = self._post(url, headers, body, self._tokens.replace(token))
        return outcome

    def _headers(self, notification: ApnsNotification) -> dict[str, str]:
        headers = {"apns-push-type": notification.push_type}
        topic = notification.topic or self._credential.topic
        if topic:
            headers["apns-topic"] = topic
        optional = {
            "apns-priority": notification.priority,
            "apns-expiration": notification.expiration,
            "apns-collapse-id": notification.collapse_id,
            "apns-id": notification.apns_id,
        }
        headers.update({name: str(value) for name, value in optional.items() if value is not None})
        return headers

    def _post(
        self, url: str, headers: dict[str, str], body: bytes, token: str | None
    ) -> tuple[Outcome, str | None]:
        """The outcome of one request and APNs' reason (None when it answered none)."""
        if token is not None:
            headers = {**headers, "authorization": f"bearer {token}"}
        try:
            with self._connections.connection() as http:
                response = http.post(url, content=body, headers=headers, timeout=self._timeout)
        except PoolClosed:
            return Outcome.refused(Disposition.RETRY, APNS_UNAVAILABLE, reason="PoolClosed"), None
        except httpx.TransportError as error:
            if isinstance(self._credential, ApnsCertificate) and client_certificate_refused(error):
                refused = Outcome.refused(
                    Disposition.CREDENTIAL_REFUSED, APNS_HANDSHAKE_FAILED, reason="BadCertificate"
                )
                return refused, None
            return lost_exchange(error, APNS_UNAVAILABLE), None
        if response.status_code == 200:
            apns_id = response.headers.get("apns-id") or headers.get("apns-id") or ""
            return Outcome.delivered(apns_id, status=200), None
        reason = _reason(response)
        return _classified(response, reason), reason


def _classified(response: httpx.Response, reason: str | None) -> Outcome:
    status = response.status_code
    known = _REASONS.get(reason or "")
    if known is not None:
        disposition, code = known
    elif status == 429 or status >= 500:
        disposition, code = Disposition.RETRY, APNS_UNAVAILABLE
    elif status == 403:
        disposition, code = Disposition.CREDENTIAL_REFUSED, APNS_INVALID_CREDENTIALS
    elif status == 410:
        disposition, code = Disposition.DEAD_ADDRESS, APNS_INVALID_TOKEN
    else:
        disposition, code = Disposition.FAILED, INTERNAL_ERROR
    retry_after = None
    if disposition is Disposition.RETRY:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
    return Outcome.refused(disposition, code, reason=reason, status=status, retry_after=retry_after)


def _reason(response: httpx.Response) -> str | None:
    try:
        document = json.loads(response.content)
    except ValueError:
        return None
    reason = document.get("reason") if isinstance(document, dict) else None
    return reason if isinstance(reason, str) and len(reason) <= 64 else None


def _encoded(payload: Mapping[str, Any] | bytes) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _load_client_certificate(context: ssl.SSLContext, credential: ApnsCertificate) -> None:
    """ssl loads a certificate chain from files only: the PEM goes to a private temporary
    file (0600, in a new 0700 directory) that is removed as soon as it is read."""
    with tempfile.TemporaryDirectory(prefix="apns-") as directory:
        path = os.path.join(directory, "credential.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(credential.certificate_pem + credential.private_key_pem)
        context.load_cert_chain(path)
