"""What a failed exchange with a provider's server means, whichever provider it is."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx

from notify_bindings.providers.outcomes import Disposition, Outcome

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

# Failures before any byte of the request can have reached the provider: it cannot have the
# message. A request cut off while it was written is incomplete, and no server acts on that.
_NOTHING_DELIVERED = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.UnsupportedProtocol,
)
# TLS alerts a server sends when it refuses the client's certificate (OpenSSL's names).
_CERTIFICATE_REFUSED = frozenset(
    {
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV1_ALERT_DECRYPT_ERROR",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    }
)


def lost_exchange(error: httpx.TransportError, code: int) -> Outcome:
    """RETRY for a request that got no answer; `maybe_accepted` unless nothing could have
    reached the provider (no connection, or the request not written whole)."""
    return Outcome.refused(
        Disposition.RETRY,
        code,
        reason=type(error).__name__,
        maybe_accepted=not isinstance(error, _NOTHING_DELIVERED),
    )


def client_certificate_refused(error: BaseException) -> bool:
    """Whether the TLS peer refused our client certificate somewhere in `error`'s causes."""
    return any(
        isinstance(cause, ssl.SSLError) and cause.reason in _CERTIFICATE_REFUSED
        for cause in _causes(error)
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
