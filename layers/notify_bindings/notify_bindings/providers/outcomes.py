"""What one send to a provider came to, classified for the delivery pipeline.

Every client of this package answers a send with an `Outcome` and never raises for anything the
provider or the network did. Its `disposition` tells the pipeline what to do next:

- SENT: record the provider's id (`provider_id`: the APNs `apns-id`, the FCM message name,
  the Twilio `SM` sid);
- DEAD_ADDRESS: fail the delivery and remove the binding: the provider says the address is
  gone;
- RETRY: try again later, after `retry_after` seconds when the provider named them. When
  `maybe_accepted` is true the provider may already have the message (the connection was lost
  after the request was written), so a retry may deliver it twice;
- CREDENTIAL_REFUSED: fail every delivery that uses the credential at once, without retrying;
- FAILED: fail this delivery; the same request would fail the same way again.

`error_code` and `error_message` are Twilio's per-delivery codes (the 52xxx codes of Notify's
debugger; Twilio's own codes for its Messages API), ready for a delivery callback's
`DeliveryState`. `reason` is the provider's own word (an APNs reason, an FCM errorCode or status,
a Twilio code as text), for logs and metrics. None of them ever holds the address or a secret:
the messages are fixed texts, never the provider's prose (Twilio's names the phone number).

Twilio codes chosen (APNs):
  410 Unregistered, 400 BadDeviceToken, 400 DeviceTokenNotForTopic -> DEAD_ADDRESS, 52134;
  400 MissingDeviceToken -> FAILED, 52142; 413 PayloadTooLarge (or too large before sending)
  -> FAILED, 52138; 403 BadCertificate/BadCertificateEnvironment/Forbidden and a TLS handshake
  refusing the client certificate -> CREDENTIAL_REFUSED, 52131 (52145 for the handshake);
  403 InvalidProviderToken/MissingProviderToken -> CREDENTIAL_REFUSED, 52149; 403
  ExpiredProviderToken again after one fresh token -> CREDENTIAL_REFUSED, 52148; 429
  TooManyProviderTokenUpdates -> RETRY, 52147; 429 TooManyRequests, 500, 503, 400 IdleTimeout,
  a lost connection -> RETRY, 52144; any other answer -> FAILED, 52000.
FCM: 404 UNREGISTERED -> DEAD_ADDRESS, 52102; 403 SENDER_ID_MISMATCH and 400 INVALID_ARGUMENT
  -> FAILED, 52102 and 52000 (neither proves the device gone: a wrong credential or a bad
  payload would otherwise delete every binding); a message over 4 KB -> FAILED, 52106;
  401 UNAUTHENTICATED (again after one fresh access token), 403 PERMISSION_DENIED,
  THIRD_PARTY_AUTH_ERROR, the token endpoint refusing the service account -> CREDENTIAL_REFUSED,
  52005; 429 QUOTA_EXCEEDED/RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE, a lost
  connection -> RETRY, 52110; anything else -> FAILED, 52000.
Twilio Messages: Twilio's code as it answered: 21211, 21614 -> DEAD_ADDRESS; 20003 and any 401
  -> CREDENTIAL_REFUSED; 20429, 429 and 5xx, a lost connection -> RETRY (20429/20503 when
  Twilio gave none); other errors -> FAILED.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Disposition(Enum):
    SENT = "sent"
    DEAD_ADDRESS = "dead_address"
    RETRY = "retry"
    CREDENTIAL_REFUSED = "credential_refused"
    FAILED = "failed"


# Twilio's per-delivery codes this package answers with, and their fixed messages.
INTERNAL_ERROR = 52000
CREDENTIAL_INVALID = 52005
FCM_INVALID_TOKEN = 52102
FCM_TOO_LARGE = 52106
FCM_UNAVAILABLE = 52110
APNS_INVALID_CREDENTIALS = 52131
APNS_INVALID_TOKEN = 52134
APNS_TOKEN_MISSING = 52142
APNS_PAYLOAD_TOO_LARGE = 52138
APNS_UNAVAILABLE = 52144
APNS_HANDSHAKE_FAILED = 52145
APNS_TOO_MANY_TOKEN_UPDATES = 52147
APNS_EXPIRED_PROVIDER_TOKEN = 52148
APNS_INVALID_PROVIDER_TOKEN = 52149

MESSAGES = {
    INTERNAL_ERROR: "The provider refused the notification",
    CREDENTIAL_INVALID: "The credential is malformed or was rejected by the provider",
    FCM_INVALID_TOKEN: "Invalid or unregistered FCM registration token",
    FCM_TOO_LARGE: "Notification too large for FCM",
    FCM_UNAVAILABLE: "FCM service unavailable",
    APNS_INVALID_CREDENTIALS: "Invalid APNs credentials",
    APNS_INVALID_TOKEN: "Invalid or unregistered APNs device token",
    APNS_TOKEN_MISSING: "APNs device token missing or malformed",
    APNS_PAYLOAD_TOO_LARGE: "APNs payload too large",
    APNS_UNAVAILABLE: "APNs unavailable or experienced an internal error",
    APNS_HANDSHAKE_FAILED: "Failed to authenticate with APNs",
    APNS_TOO_MANY_TOKEN_UPDATES: "Too many APNs provider token updates",
    APNS_EXPIRED_PROVIDER_TOKEN: "Expired APNs provider token",
    APNS_INVALID_PROVIDER_TOKEN: "Invalid APNs provider token",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    disposition: Disposition
    provider_id: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    # The provider's own name for what happened and its HTTP status (None: no answer).
    reason: str | None = None
    status: int | None = None
    # RETRY only: the seconds the provider asked to wait, and whether it may have the message.
    retry_after: float | None = None
    maybe_accepted: bool = False

    @property
    def sent(self) -> bool:
        return self.disposition is Disposition.SENT

    @classmethod
    def delivered(cls, provider_id: str, *, status: int | None = None) -> Outcome:
        return cls(Disposition.SENT, provider_id=provider_id, status=status)

    @classmethod
    def refused(
        cls,
        disposition: Disposition,
        code: int,
        *,
        reason: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_accepted: bool = False,
        message: str | None = None,
    ) -> Outcome:
        """Anything but SENT, with Twilio's code and its fixed message."""
        if disposition is Disposition.SENT:
            raise ValueError("a refusal is not SENT")
        return cls(
            disposition,
            error_code=code,
            error_message=message or MESSAGES.get(code, MESSAGES[INTERNAL_ERROR]),
            reason=reason,
            status=status,
            retry_after=retry_after,
            maybe_accepted=maybe_accepted,
        )


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's delay in seconds; None when absent or not a number of seconds.

    The HTTP-date form is not used by APNs, FCM or Twilio, and is read as absent."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0 or seconds > 86_400:  # NaN, negative, absurd
        return None
    return seconds
