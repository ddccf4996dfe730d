"""Apple Push Notification service: the HTTP/2 provider API.

`apns_http_client` builds the httpx.Client one credential's sends share: HTTP/2 only (APNs
speaks nothing else), one connection per host kept open for the life of the process (Apple
treats rapid reconnects as abuse), and for certificate credentials the TLS client certificate.
The caller keeps it, and the `ApnsClient` over it, across invocations (a module-level cache
keyed by credential, say). Token-based credentials of different teams must not share a client:
APNs refuses tokens of a second team on a connection.

`ApnsClient.send` sends one notification and classifies the answer as an `Outcome`. It may be
called from any thread, but one client sends one request at a time: httpcore's synchronous
HTTP/2 (1.0.9) is not thread-safe - threads sharing a connection allocate stream IDs out of
order and the server ends the connection (StreamIDTooLowError; seen in this project's tests,
fixed upstream only in a fork). To have several requests in flight, give each worker thread
its own `ApnsClient` and `apns_http_client` (one HTTP/2 connection each: Apple accepts several
connections per provider) and let them share one `ProviderTokens`, so that all connections
present the same token.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from notify_bindings.providers._transport import (
    DEFAULT_TIMEOUT,
    client_certificate_refused,
    lost_exchange,
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
) -> httpx.Client:
    """The HTTP/2 client for one credential's sends. `ca_file` replaces the system's CAs (a
    local stand-in's self-signed CA); the real hosts are verified against certifi's bundle."""
    context = _tls_context(ca_file)
    if isinstance(credential, ApnsCertificate):
        _load_client_certificate(context, credential)
    return httpx.Client(
        http1=False,
        http2=True,
        verify=context,
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=4, max_keepalive_connections=4, keepalive_expiry=KEEPALIVE_SECONDS
        ),
    )


class ApnsClient:
    """Sends notifications with one APNs credential through `http` (see `apns_http_client`).

    `base_url` defaults to Apple's production or sandbox host as `sandbox` says; `clock`
    dates provider tokens (token auth), `tokens` may be given to share them."""

    def __init__(
        self,
        http: httpx.Client,
        credential: ApnsCertificate | ApnsTokenKey,
        *,
        sandbox: bool = False,
        base_url: str | None = None,
        clock: Clock = time.time,
        tokens: ProviderTokens | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._http = http
        self._credential = credential
        self._base_url = (base_url or (SANDBOX_URL if sandbox else PRODUCTION_URL)).rstrip("/")
        self._timeout = timeout
        self._one_at_a_time = threading.Lock()  # see the module's docstring
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
            with self._one_at_a_time:
                response = self._http.post(
                    url, content=body, headers=headers, timeout=self._timeout
                )
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


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    if ca_file is not None:
        return ssl.create_default_context(cafile=ca_file)
    import certifi  # httpx's own dependency: the same CAs httpx trusts by default

    return ssl.create_default_context(cafile=certifi.where())


def _load_client_certificate(context: ssl.SSLContext, credential: ApnsCertificate) -> None:
    """ssl loads a certificate chain from files only: the PEM goes to a private temporary
    file (0600, in a new 0700 directory) that is removed as soon as it is read."""
    with tempfile.TemporaryDirectory(prefix="apns-") as directory:
        path = os.path.join(directory, "credential.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(credential.certificate_pem + credential.private_key_pem)
        context.load_cert_chain(path)
