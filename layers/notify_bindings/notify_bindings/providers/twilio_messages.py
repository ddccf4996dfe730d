"""Twilio's Programmable Messaging API: the SMS leg of a notification.

`TwilioMessagesClient.send` creates one Message through a Messaging Service
(`POST {endpoint}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, Basic auth with
the account's auth token or an API key) and classifies Twilio's answer: 201 is SENT with the
Message SID; Twilio's error JSON by its code (see outcomes.py). Thread-safe; the caller owns
the httpx.Client and keeps it across invocations (`twilio_http_client` builds one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from notify_bindings.providers._transport import (
    DEFAULT_TIMEOUT,
    lost_exchange,
    shared_tls_context,
)
from notify_bindings.providers.credentials import TwilioAccount
from notify_bindings.providers.outcomes import Disposition, Outcome, retry_after_seconds

TWILIO_API_URL = "https://api.twilio.com"
INVALID_TO = 21211
NOT_MOBILE = 21614
AUTHENTICATE = 20003
TOO_MANY_REQUESTS = 20429
SERVICE_UNAVAILABLE = 20503
_DEAD = frozenset({INVALID_TO, NOT_MOBILE})
_MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
# Twilio's messages name the phone number, so Outcomes carry these instead.
_MESSAGES = {
    INVALID_TO: "The 'To' number is not a valid phone number",
    NOT_MOBILE: "The 'To' number is not a valid mobile number",
    AUTHENTICATE: "Twilio refused the account's credentials",
    TOO_MANY_REQUESTS: "Too many requests",
    SERVICE_UNAVAILABLE: "Twilio's Messages API is unavailable",
}


def twilio_http_client(*, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    """HTTP/1.1 with a pool of keep-alive connections, which threads may share (httpcore's
    synchronous HTTP/2 may not be shared by threads; see apns.py), verifying servers with the
    process's shared TLS context (providers/_transport)."""
    return httpx.Client(
        verify=shared_tls_context(),
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )


class TwilioMessagesClient:
    def __init__(
        self,
        http: httpx.Client,
        account: TwilioAccount,
        *,
        endpoint: str = TWILIO_API_URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._http = http
        self._auth = httpx.BasicAuth(account.username, account.password)
        self._url = (
            f"{endpoint.rstrip('/')}/2010-04-01/Accounts/{account.account_sid}/Messages.json"
        )
        self._timeout = timeout

    def send(
        self,
        *,
        to: str,
        messaging_service_sid: str,
        body: str | None = None,
        media_urls: Sequence[str] = (),
        status_callback: str | None = None,
        max_price: str | None = None,
    ) -> Outcome:
        form: list[tuple[str, str]] = [("To", to), ("MessagingServiceSid", messaging_service_sid)]
        if body is not None:
            form.append(("Body", body))
        form.extend(("MediaUrl", url) for url in media_urls)
        if status_callback is not None:
            form.append(("StatusCallback", status_callback))
        if max_price is not None:
            form.append(("MaxPrice", max_price))
        try:
            response = self._http.post(
                self._url,
                content=urlencode(form).encode("ascii"),
                headers={"content-type": "application/x-www-form-urlencoded"},
                auth=self._auth,
                timeout=self._timeout,
            )
        except httpx.TransportError as error:
            return lost_exchange(error, SERVICE_UNAVAILABLE)
        return _classified(response)


def _classified(response: httpx.Response) -> Outcome:
    status = response.status_code
    document = _json(response)
    if (
        200 <= status < 300
    ):  # accepted, even if the SID cannot be read: sending again would repeat it
        sid = document.get("sid")
        valid = isinstance(sid, str) and _MESSAGE_SID.fullmatch(sid)
        return Outcome.delivered(sid if valid and isinstance(sid, str) else "", status=status)
    raw_code = document.get("code")
    code = raw_code if isinstance(raw_code, int) and 10000 <= raw_code <= 99999 else None
    if code in _DEAD:
        disposition = Disposition.DEAD_ADDRESS
    elif code == AUTHENTICATE or status == 401:
        disposition, code = Disposition.CREDENTIAL_REFUSED, code or AUTHENTICATE
    elif code == TOO_MANY_REQUESTS or status == 429:
        disposition, code = Disposition.RETRY, code or TOO_MANY_REQUESTS
    elif status >= 500:
        disposition, code = Disposition.RETRY, code or SERVICE_UNAVAILABLE
    else:
        disposition = Disposition.FAILED
    retry_after = None
    if disposition is Disposition.RETRY:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
    final_code = code if code is not None else 20001
    return Outcome.refused(
        disposition,
        final_code,
        reason=str(code) if code is not None else None,
        status=status,
        retry_after=retry_after,
        message=_MESSAGES.get(final_code, f"Twilio refused the message (error {final_code})"),
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = json.loads(response.content)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
