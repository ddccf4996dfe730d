"""Sending one delivery through its channel: `Senders.send(notification, service, recipient,
credential) -> Delivery`.

One `Senders` per execution environment (the delivering function keeps it at module level), so
that what is expensive to set up outlives an invocation:
- one httpx client per provider (FCM with Google's token endpoint, Twilio), pooled HTTP/1.1;
  for APNs a pool of up to `apns_connections` HTTP/2 connections (APNS_CONNECTIONS) per
  credential and environment (a client certificate is part of the TLS connection, and APNs
  refuses a second team's tokens on one connection), kept open across invocations as Apple
  asks; all of them verify servers with the process's one TLS context (providers/_transport);
- per credential: its provider client, holding the APNs provider token (renewed every 40
  minutes) or the FCM access token (renewed 5 minutes before it expires), and the
  credential's fingerprint (what tells it from another: hashed once per credential object).

What an answer leads to:
- SENT -> Delivery(SENT, provider_id);
- a dead address (APNs Unregistered, BadDeviceToken, DeviceTokenNotForTopic; FCM UNREGISTERED;
  Twilio 21211, 21614) -> Delivery(FAILED, dead_address=True): the caller removes the binding;
- retryable (429, 5xx, a lost connection) -> retried after a capped exponential back-off with
  jitter (at least what Retry-After asked), while the attempt and its wait fit the
  invocation's remaining time (platform/deadline.py) and at most MAX_ATTEMPTS times; then
  FAILED with the provider's code;
- a refused credential (APNs 403 BadCertificate/InvalidProviderToken..., FCM 401/403, Twilio
  20003) -> FAILED, and every later delivery with that credential fails at once with the same
  code for REFUSAL_SECONDS (no retry storm); its client is dropped, so the next attempt after
  that starts afresh;
- anything else -> FAILED with the provider's code.

Before any request: no credential named (neither the binding nor the Service) -> 52004; the
named credential not found -> 52002; a credential of another channel's kind -> 52164; an sms
delivery from a Service without a Messaging Service -> 21603; facebook-messenger and alexa,
whose channels no longer exist -> 52001. A payload over the provider's limit is refused by the
provider clients before sending (APNs 52138, FCM 52106).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import Delivery, DeliveryStatus, Notification, Recipient
from notify_bindings.domain.services import Service
from notify_bindings.operations import channels
from notify_bindings.platform import deadline
from notify_bindings.platform.config import Settings
from notify_bindings.providers._transport import OnFirstUse
from notify_bindings.providers.apns import DEFAULT_CONNECTIONS, ApnsClient, ApnsConnections
from notify_bindings.providers.credentials import (
    ApnsCertificate,
    ApnsTokenKey,
    ServiceAccount,
    TwilioAccount,
)
from notify_bindings.providers.fcm import FcmClient, fcm_http_client
from notify_bindings.providers.outcomes import Disposition, Outcome
from notify_bindings.providers.twilio_messages import TwilioMessagesClient, twilio_http_client

Credential = ApnsCertificate | ApnsTokenKey | ServiceAccount | TwilioAccount

MAX_ATTEMPTS = 4
BACK_OFF_BASE_SECONDS = 0.5
BACK_OFF_CAP_SECONDS = 8.0
# The longest one attempt may take (the clients' connect and read timeouts, 5 s and 10 s): a
# retry starts only if its wait and this much more fit in the time the caller leaves it.
ATTEMPT_SECONDS = 15.0
# How long a credential a provider refused is not tried again by this environment.
REFUSAL_SECONDS = 60.0
# Credentials whose clients are kept (the least recently used one's closed beyond).
MAX_CLIENTS = 64

NO_CREDENTIAL = 52004
UNKNOWN_CREDENTIAL = 52002
WRONG_CREDENTIAL = 52164
NO_CHANNEL = 52001
NO_MESSAGING_SERVICE = 21603
_MESSAGES = {
    NO_CREDENTIAL: "No Credential SID on the Binding or the Service for its type",
    UNKNOWN_CREDENTIAL: "The Credential SID names no credential of this account",
    WRONG_CREDENTIAL: "No Credential of the Binding's type: the credential is of another kind",
    NO_CHANNEL: "Notifications are no longer delivered to this binding type",
    NO_MESSAGING_SERVICE: "The Service has no MessagingServiceSid to send SMS from",
}
_KINDS: dict[BindingType, tuple[type, ...]] = {
    BindingType.APN: (ApnsCertificate, ApnsTokenKey),
    BindingType.FCM: (ServiceAccount,),
    BindingType.GCM: (ServiceAccount,),
    BindingType.SMS: (TwilioAccount,),
}


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where each provider is (the real hosts unless the settings say otherwise)."""

    apns: str
    apns_sandbox: str
    fcm: str
    fcm_token: str
    twilio: str
    apns_ca_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Endpoints:
        return cls(
            apns=settings.apns_endpoint,
            apns_sandbox=settings.apns_sandbox_endpoint,
            fcm=settings.fcm_endpoint,
            fcm_token=settings.fcm_token_endpoint,
            twilio=settings.twilio_api_endpoint,
            apns_ca_file=settings.apns_ca_file,
        )


class _Refusal(NamedTuple):
    outcome: Outcome
    until: float


class Senders:
    """The provider clients of one execution environment. Thread-safe.

    `clock` (Unix seconds) dates provider JWTs; `monotonic` times refusals; `sleep` waits
    between attempts (deadline.pause: never past the deadline); `jitter` is a number in
    [0, 1). All injectable for tests."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        jitter: Callable[[], float] = random.random,  # nosec B311 - not for secrets
        max_attempts: int = MAX_ATTEMPTS,
        refusal_seconds: float = REFUSAL_SECONDS,
        apns_connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        self._endpoints = endpoints
        self._apns_connections = apns_connections
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep or deadline.pause
        self._jitter = jitter
        self._max_attempts = max_attempts
        self._refusal_seconds = refusal_seconds
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._apns_pools: dict[tuple[Any, ...], ApnsConnections] = {}
        self._fingerprints: OrderedDict[int, tuple[Credential, tuple[str, ...]]] = OrderedDict()
        self._refused: dict[tuple[Any, ...], _Refusal] = {}
        # Each channel's client is made when a batch first sends on it (APNs' pools per
        # credential, below), then kept for the life of the environment.
        self._fcm_http = OnFirstUse(fcm_http_client)
        self._twilio_http = OnFirstUse(twilio_http_client)

    @classmethod
    def from_settings(cls, settings: Settings) -> Senders:
        return cls(Endpoints.from_settings(settings), apns_connections=settings.apns_connections)

    def close(self) -> None:
        with self._lock:
            for pool in self._apns_pools.values():
                pool.close()
            self._apns_pools.clear()
            self._clients.clear()
        self._fcm_http.close()
        self._twilio_http.close()

    def apns_connections_open(self) -> int:
        """The HTTP/2 connections to APNs this environment holds, all credentials together."""
        with self._lock:
            pools = list(self._apns_pools.values())
        return sum(pool.opened for pool in pools)

    def send(
        self,
        notification: Notification,
        service: Service,
        recipient: Recipient,
        credential: Credential | None,
        *,
        sandbox: bool = False,
    ) -> Delivery:
        """Deliver `notification` to `recipient` with `credential` (the binding's, else the
        Service's; None when neither names one or it was not found). `sandbox`: the APNs
        credential's environment is the sandbox (a certificate that opens only the sandbox is
        sent there anyway)."""
        refusal = _before_sending(service, recipient, credential)
        if refusal is not None or credential is None:
            return _delivery(recipient, refusal or _refused(NO_CREDENTIAL, "credential"))
        key = (*self._fingerprint(credential), _sandboxed(credential, sandbox))
        refused = self._still_refused(key)
        if refused is not None:
            return _delivery(recipient, refused)
        try:
            attempt = self._attempt(notification, service, recipient, credential, key)
        except (OSError, ValueError):  # the credential cannot make a client (a bad PEM)
            attempt = None
        if attempt is None:
            outcome = Outcome.refused(Disposition.CREDENTIAL_REFUSED, 52005, reason="client")
        else:
            outcome = self._with_retries(attempt)
        if outcome.disposition is Disposition.CREDENTIAL_REFUSED:
            self._remember_refusal(key, outcome)
        return _delivery(recipient, outcome)

    def _attempt(
        self,
        notification: Notification,
        service: Service,
        recipient: Recipient,
        credential: Credential,
        key: tuple[Any, ...],
    ) -> Callable[[], Outcome]:
        """What one attempt does (the payload built once, the client made or reused)."""
        kind = recipient.binding_type
        if kind is BindingType.APN and isinstance(credential, ApnsCertificate | ApnsTokenKey):
            request = channels.apns_request(notification, recipient.address, self._clock())
            # Looked up at each attempt: a pool closed meanwhile (its credential refused to
            # another thread) is replaced rather than tried again.
            return lambda: self._apns_client(credential, key).send(request)
        if isinstance(credential, ServiceAccount):
            gcm = kind is BindingType.GCM
            message = channels.fcm_message(notification, recipient.address, gcm=gcm)
            fcm = self._fcm_client(credential, key)
            return lambda: fcm.send(message)
        if isinstance(credential, TwilioAccount) and service.messaging_service_sid:
            sms = channels.sms_message(
                notification, recipient.address, service.messaging_service_sid
            )
            twilio = self._twilio_client(credential, key)
            return lambda: twilio.send(
                to=sms.to,
                messaging_service_sid=sms.messaging_service_sid,
                body=sms.body,
                media_urls=sms.media_urls,
                status_callback=sms.status_callback,
                max_price=sms.max_price,
            )
        raise ValueError("no channel for this recipient and credential")  # _before_sending

    def _with_retries(self, attempt: Callable[[], Outcome]) -> Outcome:
        outcome = attempt()
        for attempts in range(1, self._max_attempts):
            if outcome.disposition is not Disposition.RETRY:
                break
            wait = self.back_off(attempts, outcome.retry_after)
            if deadline.remaining() < wait + ATTEMPT_SECONDS:
                break
            self._sleep(wait)
            outcome = attempt()
        return outcome

    def back_off(self, attempts: int, retry_after: float | None) -> float:
        """The wait after `attempts` failed attempts: half of min(cap, base * 2^(n-1)) plus a
        random part of the other half, and never less than the provider's Retry-After."""
        ceiling = min(BACK_OFF_CAP_SECONDS, BACK_OFF_BASE_SECONDS * 2.0 ** (attempts - 1))
        wait: float = ceiling / 2 + self._jitter() * ceiling / 2
        return max(wait, retry_after or 0.0)

    def _still_refused(self, key: tuple[Any, ...]) -> Outcome | None:
        with self._lock:
            refusal = self._refused.get(key)
            if refusal is None:
                return None
            if self._monotonic() < refusal.until:
                return refusal.outcome
            del self._refused[key]
            return None

    def _remember_refusal(self, key: tuple[Any, ...], outcome: Outcome) -> None:
        with self._lock:
            self._refused[key] = _Refusal(outcome, self._monotonic() + self._refusal_seconds)
            self._clients.pop(key, None)
            pool = self._apns_pools.pop(key, None)
        if pool is not None:
            pool.close()

    def _apns_client(
        self, credential: ApnsCertificate | ApnsTokenKey, key: tuple[Any, ...]
    ) -> ApnsClient:
        def make() -> ApnsClient:
            pool = ApnsConnections(
                credential, size=self._apns_connections, ca_file=self._endpoints.apns_ca_file
            )
            self._apns_pools[key] = pool
            sandbox = key[-1]
            base_url = self._endpoints.apns_sandbox if sandbox else self._endpoints.apns
            return ApnsClient(pool, credential, base_url=base_url, clock=self._clock)

        client: ApnsClient = self._cached(key, make)
        return client

    def _fcm_client(self, account: ServiceAccount, key: tuple[Any, ...]) -> FcmClient:
        def make() -> FcmClient:
            return FcmClient(
                self._fcm_http.get(),
                account,
                endpoint=self._endpoints.fcm,
                token_url=self._endpoints.fcm_token,
                clock=self._clock,
            )

        client: FcmClient = self._cached(key, make)
        return client

    def _twilio_client(self, account: TwilioAccount, key: tuple[Any, ...]) -> TwilioMessagesClient:
        def make() -> TwilioMessagesClient:
            return TwilioMessagesClient(
                self._twilio_http.get(), account, endpoint=self._endpoints.twilio
            )

        client: TwilioMessagesClient = self._cached(key, make)
        return client

    def _cached(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            client = self._clients[key] = make()
            while len(self._clients) > MAX_CLIENTS:
                oldest, _ = self._clients.popitem(last=False)
                pool = self._apns_pools.pop(oldest, None)
                if pool is not None:
                    pool.close()
            return client

    def _fingerprint(self, credential: Credential) -> tuple[str, ...]:
        """`_fingerprint(credential)`, computed once per credential object (the delivering
        function sends a batch's recipients with the one object it opened)."""
        with self._lock:
            known = self._fingerprints.get(id(credential))
            if known is not None and known[0] is credential:
                self._fingerprints.move_to_end(id(credential))
                return known[1]
        fingerprint = _fingerprint(credential)
        with self._lock:
            # The object is kept with its id, so that the id cannot name another meanwhile.
            self._fingerprints[id(credential)] = (credential, fingerprint)
            while len(self._fingerprints) > MAX_CLIENTS:
                self._fingerprints.popitem(last=False)
        return fingerprint


def _before_sending(
    service: Service, recipient: Recipient, credential: Credential | None
) -> Outcome | None:
    """Why this delivery cannot be attempted at all, or None."""
    kinds = _KINDS.get(recipient.binding_type)
    if kinds is None:
        return _refused(NO_CHANNEL, recipient.binding_type.value)
    if credential is None:
        known = recipient.credential_sid is not None
        return _refused(UNKNOWN_CREDENTIAL if known else NO_CREDENTIAL, "credential")
    if not isinstance(credential, kinds):
        return _refused(WRONG_CREDENTIAL, type(credential).__name__)
    if recipient.binding_type is BindingType.SMS and not service.messaging_service_sid:
        return _refused(NO_MESSAGING_SERVICE, "messaging_service_sid")
    return None


def _refused(code: int, reason: str) -> Outcome:
    return Outcome.refused(Disposition.FAILED, code, reason=reason, message=_MESSAGES[code])


def _delivery(recipient: Recipient, outcome: Outcome) -> Delivery:
    if outcome.sent:
        return Delivery(recipient, DeliveryStatus.SENT, provider_id=outcome.provider_id)
    return Delivery(
        recipient,
        DeliveryStatus.FAILED,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        dead_address=outcome.disposition is Disposition.DEAD_ADDRESS,
    )


def _sandboxed(credential: Credential, sandbox: bool) -> bool:
    if isinstance(credential, ApnsCertificate) and credential.environments == {"sandbox"}:
        return True
    return sandbox and isinstance(credential, ApnsCertificate | ApnsTokenKey)


def _fingerprint(credential: Credential) -> tuple[str, ...]:
    """What tells one credential from another, secrets included (hashed): an updated key or
    token gets a new client, never the old one's."""
    if isinstance(credential, ApnsCertificate):
        return ("apns-certificate", _digest(credential.certificate_pem, credential.private_key_pem))
    if isinstance(credential, ApnsTokenKey):
        key_number = credential.private_key.private_numbers().private_value
        secret = key_number.to_bytes(32, "big")
        ids = (credential.key_id, credential.team_id, credential.topic)
        return ("apns-token", *ids, _digest(secret))
    if isinstance(credential, ServiceAccount):
        numbers = credential.private_key.private_numbers()
        secret = numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big")
        ids = (credential.project_id, credential.client_email, credential.private_key_id)
        return ("fcm", *ids, _digest(secret))
    return (
        "twilio",
        credential.account_sid,
        credential.username,
        _digest(credential.password.encode()),
    )


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()
