"""A stand-in for FCM HTTP v1 and Google's OAuth2 token endpoint, on loopback HTTP/1.1.

    POST <base>/token                               the JWT-bearer grant of a service account
    POST <base>/v1/projects/{project}/messages:send one message
    DELETE <base>/tokens                            (control) revoke every access token issued
    plus the control API of common.py (deliveries, faults; faults with "target": "token"
    apply to the token endpoint)

Register each service account first (`register_service_account(client_email, project_id,
public_key)`), and give clients `token_url` (the assertion's `aud` must be exactly that URL).

The token endpoint checks the RS256 assertion against the account's public key: `iss` a
registered e-mail, `aud` this token URL, `scope` including firebase.messaging, `iat` not in the
future and `exp` after now, `exp - iat` <= 3600 (else 400 invalid_grant / invalid_scope, as
Google answers). It issues opaque tokens valid 3599 s by `clock`.

The send endpoint checks the bearer token (issued here and unexpired, else 401
UNAUTHENTICATED), the project (the token's account's, else 403 PERMISSION_DENIED), the body
(a JSON `message` with exactly one of token, topic or condition; `data` values strings; at most
4096 bytes without the target, else 400 INVALID_ARGUMENT), then the test-card registration
tokens: `dead...` -> 404 UNREGISTERED, `bad...` -> 400 INVALID_ARGUMENT, `mismatch...` -> 403
SENDER_ID_MISMATCH, `busy...` -> 503 UNAVAILABLE with Retry-After: 1 the first time that token
is seen. Anything else -> 200 {"name": "projects/{project}/messages/{id}"}, recorded.
`"validate_only": true` is answered the same way without being recorded.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from local_api.standins.common import (
    Answer,
    Dropped,
    Fault,
    HttpStandInServer,
    StandIn,
)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
TOKEN_SECONDS = 3599
MAX_PAYLOAD_BYTES = 4096
_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_TARGETS = ("token", "topic", "condition")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_FCM_CODES = {429: "QUOTA_EXCEEDED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


@dataclass(frozen=True)
class _Account:
    client_email: str
    project_id: str
    public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class _AccessToken:
    account: _Account
    expires_at: float


class FcmStandIn(StandIn):
    def __init__(self, *, port: int = 0, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, _AccessToken] = {}
        self._lock = threading.Lock()
        self.tokens_issued = 0
        # Seconds an access token is valid (Google: 3599); 0 makes every token expire at once.
        self.token_lifetime = TOKEN_SECONDS
        self._server = HttpStandInServer(self._respond, port)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def register_service_account(
        self, client_email: str, project_id: str, public_key: rsa.RSAPublicKey
    ) -> None:
        with self._lock:
            self._accounts[client_email] = _Account(client_email, project_id, public_key)

    def revoke_access_tokens(self) -> None:
        """Forget every access token issued (as Google does when a key is deleted)."""
        with self._lock:
            self._tokens.clear()

    def start(self) -> FcmStandIn:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FcmStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        path = urlsplit(target).path
        control = self.control(method, path, body)
        if control is not None:
            return control
        if path == "/tokens":
            if method != "DELETE":
                return Answer.json(405, {"error": "DELETE"})
            self.revoke_access_tokens()
            return Answer(204)
        if path == "/token":
            return self._faulted("token", lambda _: self._token(method, headers, body))
        parts = path.split("/")
        # /v1/projects/{project}/messages:send
        if len(parts) == 5 and parts[1:3] == ["v1", "projects"] and parts[4] == "messages:send":
            return self._faulted(
                "send", lambda dropped: self._send(method, parts[3], headers, body, dropped)
            )
        return _error(404, "NOT_FOUND", "Requested entity was not found.")

    def _faulted(self, target: str, answer: Callable[[bool], Answer]) -> Answer:
        """`answer(dropped)` unless the plan fails the request; a request dropped is answered
        (and recorded as dropped) first, then held for its delay and dropped."""
        decision = self.faults.decide(target)
        if decision.fault is Fault.DROP:
            answer(True)
            time.sleep(decision.delay)
            raise Dropped()
        if decision.delay:
            time.sleep(decision.delay)
        if decision.fault is Fault.FAIL:
            retry = decision.retry_after
            extra = [("retry-after", f"{retry:g}")] if retry is not None else []
            if target == "token":
                return Answer.json(decision.status, {"error": "internal_failure"}, *extra)
            failed = _error(
                decision.status,
                _STATUS_NAMES[decision.status],
                "The service is currently unavailable.",
                _FCM_CODES[decision.status],
            )
            failed.headers.extend(extra)
            return failed
        return answer(False)

    def _token(self, method: str, headers: dict[str, str], body: bytes) -> Answer:
        if method != "POST":
            return Answer.json(405, {"error": "invalid_request"})
        form = parse_qs(body.decode("utf-8", errors="replace"))
        if form.get("grant_type") != [_GRANT_TYPE] or len(form.get("assertion", [])) != 1:
            return _grant_error("unsupported_grant_type", "Invalid grant_type.")
        assertion = form["assertion"][0]
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return _grant_error("invalid_grant", "Invalid JWT.")
        with self._lock:
            account = self._accounts.get(str(claims.get("iss")))
        if account is None:
            return _grant_error("invalid_grant", "Invalid grant: account not found")
        try:
            jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                audience=self.token_url,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.InvalidAudienceError:
            return _grant_error("invalid_grant", "Invalid JWT: audience mismatch.")
        except jwt.InvalidTokenError:
            return _grant_error("invalid_grant", "Invalid JWT Signature.")
        now = self._clock()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            return _grant_error("invalid_grant", "Invalid JWT: iat and exp are required.")
        if exp - iat > 3600 or iat > now + 60 or exp <= now:
            return _grant_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        if SCOPE not in str(claims.get("scope", "")).split():
            return _grant_error("invalid_scope", "Invalid OAuth scope or ID token audience.")
        token = "ya29.standin-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _AccessToken(account, now + self.token_lifetime)
            self.tokens_issued += 1
        document = {
            "access_token": token,
            "expires_in": TOKEN_SECONDS,
            "token_type": "Bearer",  # nosec B105 - the token's type, not a secret
        }
        return Answer.json(200, document)

    def _send(
        self, method: str, project: str, headers: dict[str, str], body: bytes, dropped: bool
    ) -> Answer:
        if method != "POST":
            return _error(405, "INVALID_ARGUMENT", "Method not allowed.")
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        with self._lock:
            access = self._tokens.get(bearer) if scheme.lower() == "bearer" else None
        if access is None or access.expires_at <= self._clock():
            return _error(401, "UNAUTHENTICATED", _UNAUTHENTICATED)
        if access.account.project_id != project:
            return _error(
                403,
                "PERMISSION_DENIED",
                f"Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not "
                "exist).",
            )
        try:
            document = json.loads(body)
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        message = document.get("message") if isinstance(document, dict) else None
        if not isinstance(message, dict):
            return _invalid("Request contains an invalid argument.")
        targets = [name for name in _TARGETS if name in message]
        if len(targets) != 1 or not isinstance(message[targets[0]], str):
            return _invalid("Exactly one of token, topic or condition must be given.")
        problem = _data_problem(message)
        if problem is not None:
            return _invalid(problem)
        payload = {key: value for key, value in message.items() if key not in _TARGETS}
        if len(json.dumps(payload, separators=(",", ":")).encode()) > MAX_PAYLOAD_BYTES:
            return _invalid("Message is too big.")
        target_value: str = message[targets[0]]
        if targets[0] == "token":
            card = _test_card(target_value, self.deliveries.first_sight)
            if card is not None:
                return card
        name = f"projects/{project}/messages/{secrets.randbits(63)}"
        if document.get("validate_only") is True:
            return Answer.json(200, {"name": f"projects/{project}/messages/fake_message_id"})
        self.deliveries.add(
            {
                "project_id": project,
                "client_email": access.account.client_email,
                targets[0]: target_value,
                "name": name,
                "message": message,
                "dropped": dropped,
            }
        )
        return Answer.json(200, {"name": name})


def _test_card(token: str, first_sight: Callable[[str], bool]) -> Answer | None:
    if token.startswith("dead"):
        return _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
    if token.startswith("bad"):
        return _invalid("The registration token is not a valid FCM registration token")
    if token.startswith("mismatch"):
        return _error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH")
    if token.startswith("busy") and first_sight(token):
        answer = _error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE")
        answer.headers.append(("retry-after", "1"))
        return answer
    return None


def _data_problem(message: dict[str, Any]) -> str | None:
    for where, holder in (("message", message), ("message.android", message.get("android"))):
        data = holder.get("data") if isinstance(holder, dict) else None
        if data is None:
            continue
        if not isinstance(data, dict):
            return f"Invalid value at '{where}.data' (Map), not a map"
        for index, value in enumerate(data.values()):
            if not isinstance(value, str):
                return f"Invalid value at '{where}.data[{index}].value' (TYPE_STRING)"
    return None


def _invalid(message: str) -> Answer:
    return _error(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT")


def _error(status: int, name: str, message: str, fcm_code: str | None = None) -> Answer:
    error: dict[str, Any] = {"code": status, "message": message, "status": name}
    if fcm_code is not None:
        error["details"] = [{"@type": _FCM_ERROR, "errorCode": fcm_code}]
    return Answer.json(status, {"error": error})


def _grant_error(error: str, description: str) -> Answer:
    return Answer.json(400, {"error": error, "error_description": description})
