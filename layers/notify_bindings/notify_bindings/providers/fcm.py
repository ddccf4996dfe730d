"""Firebase Cloud Messaging, HTTP v1 API, with a service account's OAuth2 access tokens.

`AccessTokens` gets an access token the way Google's libraries do for a service account: an
RS256 JWT (iss = the account's e-mail, scope firebase.messaging, aud = the token URL, one hour
at most) posted as a JWT-bearer grant to the token URL. The token is reused until a few minutes
before it expires, and replaced once when FCM answers 401. The token URL is a setting of the
deployment (Google's by default), never the key's `token_uri`: a key naming another host would
otherwise have the sender post signed assertions there.

`FcmClient.send` posts one v1 `message` (the caller builds it, with exactly one of `token`,
`topic` or `condition`) and classifies the answer from the FcmError `errorCode` in the error's
details, else its `status` (see outcomes.py). Thread-safe; the caller owns the httpx.Client and
keeps it across invocations (`fcm_http_client` builds one).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

from notify_bindings.providers._transport import (
    DEFAULT_TIMEOUT,
    lost_exchange,
    shared_tls_context,
)
from notify_bindings.providers.credentials import ServiceAccount
from notify_bindings.providers.outcomes import (
    CREDENTIAL_INVALID,
    FCM_INVALID_TOKEN,
    FCM_TOO_LARGE,
    FCM_UNAVAILABLE,
    INTERNAL_ERROR,
    Disposition,
    Outcome,
    retry_after_seconds,
)

FCM_URL = "https://fcm.googleapis.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL  # nosec B105
MESSAGING_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
ASSERTION_SECONDS = 3600  # Google's limit for exp - iat
# A token is replaced this long before it expires, so that none expires in flight.
REFRESH_MARGIN_SECONDS = 300.0
# FCM's limit on a message's payload; measured here as the message's JSON without its target.
MAX_MESSAGE_BYTES = 4096
_TARGETS = ("token", "topic", "condition")
_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

Clock = Callable[[], float]

# FcmError errorCode, else google.rpc status -> (disposition, Twilio code).
_ERROR_CODES: dict[str, tuple[Disposition, int]] = {
    "UNREGISTERED": (Disposition.DEAD_ADDRESS, FCM_INVALID_TOKEN),
    # The token belongs to another Firebase project: a wrong credential as likely as a stray
    # token, so the binding is kept.
    "SENDER_ID_MISMATCH": (Disposition.FAILED, FCM_INVALID_TOKEN),
    "INVALID_ARGUMENT": (Disposition.FAILED, INTERNAL_ERROR),
    "QUOTA_EXCEEDED": (Disposition.RETRY, FCM_UNAVAILABLE),
    "UNAVAILABLE": (Disposition.RETRY, FCM_UNAVAILABLE),
    "INTERNAL": (Disposition.RETRY, FCM_UNAVAILABLE),
    "THIRD_PARTY_AUTH_ERROR": (Disposition.CREDENTIAL_REFUSED, CREDENTIAL_INVALID),
    "APNS_AUTH_ERROR": (Disposition.CREDENTIAL_REFUSED, CREDENTIAL_INVALID),
    "UNAUTHENTICATED": (Disposition.CREDENTIAL_REFUSED, CREDENTIAL_INVALID),
    "PERMISSION_DENIED": (Disposition.CREDENTIAL_REFUSED, CREDENTIAL_INVALID),
    "RESOURCE_EXHAUSTED": (Disposition.RETRY, FCM_UNAVAILABLE),
    "DEADLINE_EXCEEDED": (Disposition.RETRY, FCM_UNAVAILABLE),
}


class TokenUnavailable(Exception):
    """No access token: what the token endpoint (or the network) did, as an Outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error_message)
        self.outcome = outcome


class AccessTokens:
    """OAuth2 access tokens of one service account for FCM. Thread-safe: one thread fetches,
    the others wait for its token."""

    def __init__(
        self,
        http: httpx.Client,
        account: ServiceAccount,
        *,
        token_url: str = GOOGLE_TOKEN_URL,
        clock: Clock = time.time,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._http = http
        self._account = account
        self._token_url = token_url
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def current(self) -> str:
        """A token valid for a few minutes more at least; raises TokenUnavailable."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                return self._fetch()
            return self._token

    def replace(self, rejected: str) -> str:
        """A new token after FCM refused `rejected` (unless another thread replaced it)."""
        with self._lock:
            if self._token is None or self._token == rejected:
                return self._fetch()
            return self._token

    def assertion(self, issued_at: float) -> str:
        """The signed JWT-bearer assertion Google's token endpoint exchanges for a token."""
        iat = int(issued_at)
        return jwt.encode(
            {
                "iss": self._account.client_email,
                "scope": MESSAGING_SCOPE,
                "aud": self._token_url,
                "iat": iat,
                "exp": iat + ASSERTION_SECONDS,
            },
            self._account.private_key,
            algorithm="RS256",
            headers={"kid": self._account.private_key_id},
        )

    def _fetch(self) -> str:
        self._token = None
        asked_at = self._clock()
        form = {"grant_type": _GRANT_TYPE, "assertion": self.assertion(asked_at)}
        try:
            response = self._http.post(self._token_url, data=form, timeout=self._timeout)
        except httpx.TransportError as error:
            lost = lost_exchange(error, FCM_UNAVAILABLE)
            # No message went anywhere: a token request is never a delivery.
            raise TokenUnavailable(
                Outcome.refused(Disposition.RETRY, FCM_UNAVAILABLE, reason=lost.reason)
            ) from None
        document = _json(response)
        if response.status_code == 200:
            token, lifetime = document.get("access_token"), document.get("expires_in")
            if isinstance(token, str) and token and isinstance(lifetime, int | float):
                margin = min(self._refresh_margin, lifetime / 2)
                self._token, self._renew_at = token, asked_at + lifetime - margin
                return token
        refusal = document.get("error")
        reason = refusal if isinstance(refusal, str) and len(refusal) <= 64 else None
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
            outcome = Outcome.refused(
                Disposition.RETRY,
                FCM_UNAVAILABLE,
                reason=reason,
                status=response.status_code,
                retry_after=retry_after,
            )
        else:  # invalid_grant, invalid_client, ...: the account or its key is refused
            outcome = Outcome.refused(
                Disposition.CREDENTIAL_REFUSED,
                CREDENTIAL_INVALID,
                reason=reason or "token_refused",
                status=response.status_code,
            )
        raise TokenUnavailable(outcome)


def fcm_http_client(*, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    """The client for FCM and Google's token endpoint: HTTP/1.1 with a pool of keep-alive
    connections, which threads may share (httpcore's synchronous HTTP/2 may not be shared by
    threads; see apns.py). FCM serves HTTP/1.1 as well. Servers are verified with the
    process's shared TLS context (providers/_transport)."""
    return httpx.Client(
        verify=shared_tls_context(),
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )


class FcmClient:
    """Sends v1 messages with one service account through `http`."""

    def __init__(
        self,
        http: httpx.Client,
        account: ServiceAccount,
        *,
        endpoint: str = FCM_URL,
        token_url: str = GOOGLE_TOKEN_URL,
        clock: Clock = time.time,
        tokens: AccessTokens | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._http = http
        self._url = f"{endpoint.rstrip('/')}/v1/projects/{account.project_id}/messages:send"
        self._timeout = timeout
        self._tokens = tokens or AccessTokens(
            http, account, token_url=token_url, clock=clock, timeout=timeout
        )

    @property
    def tokens(self) -> AccessTokens:
        return self._tokens

    def send(self, message: Mapping[str, Any]) -> Outcome:
        if payload_size(message) > MAX_MESSAGE_BYTES:
            return Outcome.refused(Disposition.FAILED, FCM_TOO_LARGE, reason="MessageTooBig")
        body = json.dumps({"message": message}, separators=(",", ":"), ensure_ascii=False)
        encoded = body.encode("utf-8")
        try:
            token = self._tokens.current()
            response = self._post(encoded, token)
            if isinstance(response, httpx.Response) and response.status_code == 401:
                response = self._post(encoded, self._tokens.replace(token))
        except TokenUnavailable as unavailable:
            return unavailable.outcome
        if isinstance(response, Outcome):
            return response
        return _classified(response)

    def _post(self, body: bytes, token: str) -> httpx.Response | Outcome:
        headers = {
            "authorization": f"Bearer {token}",
            "content-type": "application/json; charset=UTF-8",
            "x-goog-api-format-version": "2",
        }
        try:
            return self._http.post(self._url, content=body, headers=headers, timeout=self._timeout)
        except httpx.TransportError as error:
            return lost_exchange(error, FCM_UNAVAILABLE)


def payload_size(message: Mapping[str, Any]) -> int:
    """The bytes of a message counted against FCM's 4 KB limit: all of it but its target."""
    payload = {key: value for key, value in message.items() if key not in _TARGETS}
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _classified(response: httpx.Response) -> Outcome:
    status = response.status_code
    document = _json(response)
    if status == 200:
        name = document.get("name")
        return Outcome.delivered(name if isinstance(name, str) else "", status=200)
    error = document.get("error")
    error = error if isinstance(error, dict) else {}
    reason = _error_code(error) or (
        error.get("status") if isinstance(error.get("status"), str) else None
    )
    known = _ERROR_CODES.get(reason or "")
    if known is not None:
        disposition, code = known
    elif status == 429 or status >= 500:
        disposition, code = Disposition.RETRY, FCM_UNAVAILABLE
    elif status in (401, 403):
        disposition, code = Disposition.CREDENTIAL_REFUSED, CREDENTIAL_INVALID
    else:
        disposition, code = Disposition.FAILED, INTERNAL_ERROR
    retry_after = None
    if disposition is Disposition.RETRY:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
    return Outcome.refused(disposition, code, reason=reason, status=status, retry_after=retry_after)


def _error_code(error: Mapping[str, Any]) -> str | None:
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and detail.get("@type") == _FCM_ERROR:
            code = detail.get("errorCode")
            if isinstance(code, str) and len(code) <= 64:
                return code
    return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = json.loads(response.content)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
