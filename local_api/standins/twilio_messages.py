"""A stand-in for Twilio's Messages API, on loopback HTTP/1.1.

    POST <base>/2010-04-01/Accounts/{AccountSid}/Messages.json   create a Message
    plus the control API of common.py (deliveries, faults)

Register accounts first: `register_account(account_sid, auth_token)`, and API keys with
`register_api_key(account_sid, key_sid, secret)`. Checks, in Twilio's order and error JSON
(`{code, message, more_info, status}`):
- Basic auth by the account (its SID and auth token) or one of its API keys, for the account
  in the path: else 401 / 20003;
- `To` present (21604), a sender (`MessagingServiceSid` or `From`, 21603), a Messaging Service
  SID shaped `MG` + 32 hex digits (21701), `Body` or `MediaUrl` (21619 with a Messaging
  Service, 21602 with From), `Body` at most 1600 characters (21617), `MediaUrl` and
  `StatusCallback` http(s) URLs (21620, 21609; no `_` in a callback's host), `To` in E.164
  (21211);
- Twilio's magic test numbers: To `+15005550001` -> 400 / 21211, `+15005550009` -> 400 / 21614,
  with Twilio's messages;
then 201 with Twilio's Message JSON (status "accepted", RFC 2822 dates), recorded.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local_api.standins.common import Answer, Dropped, Fault, HttpStandInServer, StandIn

_PATH = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_MESSAGING_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")
_MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550009": (21614, "To number: +15005550009, is not a mobile number"),
}
_FAILURES = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


class TwilioMessagesStandIn(StandIn):
    def __init__(self, *, port: int = 0, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        self._lock = threading.Lock()
        # username -> (account SID, password): accounts by their SID, API keys by theirs.
        self._users: dict[str, tuple[str, str]] = {}
        self._server = HttpStandInServer(self._respond, port)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def register_account(self, account_sid: str, auth_token: str) -> None:
        with self._lock:
            self._users[account_sid] = (account_sid, auth_token)

    def register_api_key(self, account_sid: str, key_sid: str, secret: str) -> None:
        with self._lock:
            self._users[key_sid] = (account_sid, secret)

    def start(self) -> TwilioMessagesStandIn:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> TwilioMessagesStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        path = urlsplit(target).path
        control = self.control(method, path, body)
        if control is not None:
            return control
        match = _PATH.fullmatch(path)
        if match is None:
            return _error(404, 20404, f"The requested resource {path} was not found")
        decision = self.faults.decide()
        if decision.fault is Fault.DROP:  # accepted (if valid), then held and dropped
            self._create(method, match[1], headers, body, dropped=True)
            time.sleep(decision.delay)
            raise Dropped()
        if decision.delay:
            time.sleep(decision.delay)
        if decision.fault is Fault.FAIL:
            code, message = _FAILURES[decision.status]
            answer = _error(decision.status, code, message)
            if decision.retry_after is not None:
                answer.headers.append(("retry-after", f"{decision.retry_after:g}"))
            return answer
        return self._create(method, match[1], headers, body, dropped=False)

    def _create(
        self, method: str, account_sid: str, headers: dict[str, str], body: bytes, *, dropped: bool
    ) -> Answer:
        user = self._authenticated(headers.get("authorization", ""))
        if user is None or user[0] != account_sid:
            return _error(401, 20003, "Authenticate")
        if method != "POST":
            return _error(405, 20004, "Method not allowed")
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        to = _one(form, "To")
        service = _one(form, "MessagingServiceSid")
        sender = _one(form, "From")
        text = _one(form, "Body")
        media = form.get("MediaUrl", [])
        callback = _one(form, "StatusCallback")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not service and not sender:
            return _error(400, 21603, "A 'From' phone number is required.")
        if service and not _MESSAGING_SERVICE.fullmatch(service):
            return _error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if not text and not media:
            if service:
                return _error(400, 21619, "A text message body or media urls must be specified.")
            return _error(400, 21602, "Message body is required.")
        if text and len(text) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if any(not _http_url(url) for url in media):
            return _error(400, 21620, "Invalid media URL(s).")
        if callback and (not _http_url(callback) or "_" in (urlsplit(callback).hostname or "")):
            return _error(400, 21609, "Invalid StatusCallback url.")
        if to in _MAGIC_TO:
            code, refusal = _MAGIC_TO[to]
            return _error(400, code, refusal)
        if not _E164.fullmatch(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        sid = "SM" + secrets.token_hex(16)
        now = email.utils.format_datetime(
            datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        )
        uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}"
        message: dict[str, Any] = {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": text or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": str(len(media)),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
        self.deliveries.add(
            {
                "sid": sid,
                "account_sid": account_sid,
                "username": user[1],
                "to": to,
                "messaging_service_sid": service,
                "from": sender,
                "body": text,
                "media_urls": media,
                "status_callback": callback,
                "max_price": _one(form, "MaxPrice"),
                "dropped": dropped,
            }
        )
        return Answer.json(201, message)

    def _authenticated(self, header: str) -> tuple[str, str] | None:
        """(account SID, username) of valid Basic credentials, else None."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        with self._lock:
            known = self._users.get(username)
        if known is None or not secrets.compare_digest(known[1].encode(), password.encode()):
            return None
        return known[0], username


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[-1] if values else None


def _http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _error(status: int, code: int, message: str) -> Answer:
    return Answer.json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )
