"""Delivery callbacks, as Twilio Notify sent them (docs/api.md, "Delivery callbacks").

Where: the notification's DeliveryCallbackUrl, else the Service's delivery_callback_url when
its delivery_callback_enabled is true; else none.

What: a form-encoded POST, signed with X-Twilio-Signature computed with the account's auth
token (twilio's RequestValidator accepts it), of

    NotificationSid, AccountSid, ServiceSid,
    Count          the deliveries in this callback (1 to 1,000),
    SequenceId     the callback's number for this notification, from 0,
    IsFinal        "true" on the notification's last callback, else "false",
    DeliveryState  once per delivery, a JSON object: {"sid": the provider's id (APNs apns-id,
                   FCM message name, Twilio Message SID; null when none), "binding_sid",
                   "binding_type", "status": "SENT" | "FAILED", "error_code", "error_message"
                   (null when sent)} - never the address.

A receiver answering 429 or 5xx, or not answering, is tried again after a capped exponential
back-off, at most MAX_ATTEMPTS times and while the wait and an attempt fit the invocation's
remaining time; any other answer ends it (a 4xx would answer the same again). A URL that may
not be called (see providers/webhooks.py) is not tried at all.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from notify_bindings.domain.notifications import (
    MAX_DELIVERIES_PER_CALLBACK,
    Delivery,
    DeliveryStatus,
    Notification,
)
from notify_bindings.domain.services import Service
from notify_bindings.platform import deadline
from notify_bindings.platform.observability import count, logger
from notify_bindings.providers.webhooks import CallbackPoster, CallbackRefused

MAX_ATTEMPTS = 3
BACK_OFF_BASE_SECONDS = 1.0
BACK_OFF_CAP_SECONDS = 8.0
# A callback attempt's longest (the poster's connect and read timeouts).
ATTEMPT_SECONDS = 8.0
# Twilio's code for a delivery callback that failed.
CALLBACK_FAILED = 52311

Params = dict[str, str | list[str]]


def callback_url(notification: Notification, service: Service) -> str | None:
    """Where `notification`'s deliveries are reported, or None."""
    if notification.delivery_callback_url:
        return notification.delivery_callback_url
    if service.delivery_callback_enabled and service.delivery_callback_url:
        return service.delivery_callback_url
    return None


def delivery_state(delivery: Delivery) -> str:
    """A delivery's DeliveryState parameter: JSON, never the address."""
    sent = delivery.status is DeliveryStatus.SENT
    return json.dumps(
        {
            "sid": delivery.provider_id or None,
            "binding_sid": delivery.recipient.binding_sid,
            "binding_type": delivery.recipient.binding_type.value,
            "status": delivery.status.value,
            "error_code": None if sent else delivery.error_code,
            "error_message": None if sent else delivery.error_message,
        },
        separators=(",", ":"),
    )


def callback_params(
    notification: Notification,
    deliveries: Sequence[Delivery],
    *,
    first_sequence: int = 0,
    final: bool = True,
) -> list[Params]:
    """The callbacks reporting `deliveries`, at most 1,000 each, numbered from
    `first_sequence`; when `final`, the last one says IsFinal=true. No deliveries and `final`:
    one callback with Count 0 (so that a receiver learns the notification is done)."""
    chunks = [
        deliveries[start : start + MAX_DELIVERIES_PER_CALLBACK]
        for start in range(0, len(deliveries), MAX_DELIVERIES_PER_CALLBACK)
    ] or ([[]] if final else [])
    return [
        {
            "NotificationSid": notification.sid,
            "AccountSid": notification.account_sid,
            "ServiceSid": notification.service_sid,
            "Count": str(len(chunk)),
            "SequenceId": str(first_sequence + number),
            "IsFinal": "true" if final and number == len(chunks) - 1 else "false",
            "DeliveryState": [delivery_state(delivery) for delivery in chunk],
        }
        for number, chunk in enumerate(chunks)
    ]


@dataclass(frozen=True, slots=True)
class CallbackReport:
    """What reporting came to: callbacks the receiver accepted, callbacks that failed (each
    one Twilio's 52311), the next SequenceId, and the last failure's reason (no URL, no
    secret: for logs)."""

    accepted: int = 0
    failed: int = 0
    next_sequence: int = 0
    reason: str | None = None

    @property
    def error_code(self) -> int | None:
        return CALLBACK_FAILED if self.failed else None


class DeliveryCallbacks:
    """Reports deliveries to a notification's callback URL. `sleep` waits between attempts
    (deadline.pause by default), `jitter` is a number in [0, 1)."""

    def __init__(
        self,
        poster: CallbackPoster,
        *,
        sleep: Callable[[float], None] | None = None,
        jitter: Callable[[], float] = random.random,  # nosec B311 - not for secrets
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._poster = poster
        self._sleep = sleep or deadline.pause
        self._jitter = jitter
        self._max_attempts = max_attempts

    def report(
        self,
        notification: Notification,
        service: Service,
        deliveries: Sequence[Delivery],
        *,
        auth_token: str,
        first_sequence: int = 0,
        final: bool = True,
    ) -> CallbackReport:
        """Post the callbacks of `deliveries` (nothing when the notification has no URL)."""
        url = callback_url(notification, service)
        batches = callback_params(
            notification, deliveries, first_sequence=first_sequence, final=final
        )
        next_sequence = first_sequence + len(batches)
        if url is None:
            return CallbackReport(next_sequence=next_sequence)
        accepted = failed = 0
        reason = None
        for params in batches:
            ok, why = self._post(url, auth_token, params)
            accepted, failed = accepted + ok, failed + (not ok)
            reason = why or reason
        return CallbackReport(accepted, failed, next_sequence, reason)

    def _post(self, url: str, auth_token: str, params: Params) -> tuple[bool, str | None]:
        for attempts in range(1, self._max_attempts + 1):
            try:
                answer = self._poster.post(url, auth_token, params)
            except CallbackRefused as refused:
                return False, str(refused)
            if answer.accepted:
                return True, None
            if not answer.retryable or attempts == self._max_attempts:
                return False, answer.reason
            ceiling = min(BACK_OFF_CAP_SECONDS, BACK_OFF_BASE_SECONDS * 2.0 ** (attempts - 1))
            wait = ceiling / 2 + self._jitter() * ceiling / 2
            if deadline.remaining() < wait + ATTEMPT_SECONDS:
                return False, answer.reason
            self._sleep(wait)
        return False, None  # not reached: the last attempt returns above


class SignedCallbacks:
    """The delivering function's reporter (operations/delivery.CallbackReporter): each
    notification's callbacks signed with its account's auth token, read at each report (one
    read, so a rotated token signs the next callback), and a failure counted and logged as
    Twilio's 52311 (no URL, no secret)."""

    def __init__(
        self, callbacks: DeliveryCallbacks, auth_token: Callable[[str], str | None]
    ) -> None:
        self._callbacks = callbacks
        self._auth_token = auth_token

    def report(
        self,
        notification: Notification,
        service: Service,
        deliveries: Sequence[Delivery],
        *,
        first_sequence: int,
        final: bool,
    ) -> CallbackReport:
        try:
            token = self._auth_token(notification.account_sid)
        except ValueError:  # its sealed copy does not open (dal.sealing.BrokenSeal)
            token = None
        if token is None:  # nobody could check a signature
            count("DeliveryCallbacksFailed")
            logger.warning("Delivery callback not sent: the account's auth token does not open")
            return CallbackReport(failed=1, reason="account")
        report = self._callbacks.report(
            notification,
            service,
            deliveries,
            auth_token=token,
            first_sequence=first_sequence,
            final=final,
        )
        if report.failed:
            count("DeliveryCallbacksFailed", report.failed)
            logger.warning(
                "Delivery callback failed",
                extra={
                    "notification_sid": notification.sid,
                    "error_code": report.error_code,
                    "reason": report.reason,
                },
            )
        return report
