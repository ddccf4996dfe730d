"""What every provider client shares: the TLS context that verifies the providers' servers,
and what a failed exchange with a provider's server means, whichever provider it is.

TLS: httpx.Client() builds an SSLContext and loads certifi's CA bundle into it every time
(about 375 million instructions, 0.4 of a whole function's cold start), so the clients of one
process share one: `shared_tls_context()`, made at first use. httpcore sets the ALPN
protocols on the context it is given just before it wraps a socket (h2 and http/1.1 for
APNs, http/1.1 for FCM, Twilio and callbacks), so a context shared by clients of both kinds,
used from several threads, could hand an APNs connection http/1.1 alone. `TlsContext` keeps
each thread's ALPN choice apart and applies it when that thread wraps its socket (the
handshake itself runs outside the lock).
"""

from __future__ import annotations

import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from socket import socket

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


class TlsContext(ssl.SSLContext):
    """A client SSLContext that clients of different ALPN protocols may share across threads.
    Made by `new_tls_context`."""

    def __new__(cls) -> TlsContext:
        # PROTOCOL_TLS_CLIENT: certificates required, host names checked.
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self) -> None:
        super().__init__()
        self._alpn_lock = threading.Lock()
        self._alpn = threading.local()

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        self._alpn.protocols = list(alpn_protocols)

    def wrap_socket(
        self,
        sock: socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        # OpenSSL copies the context's ALPN list into the connection when it is created.
        with self._alpn_lock:
            super().set_alpn_protocols(getattr(self._alpn, "protocols", []))
            wrapped = super().wrap_socket(
                sock,
                server_side=server_side,
                do_handshake_on_connect=False,
                suppress_ragged_eofs=suppress_ragged_eofs,
                server_hostname=server_hostname,
                session=session,
            )
        if do_handshake_on_connect:
            wrapped.do_handshake()
        return wrapped


def new_tls_context(ca_file: str | None = None) -> TlsContext:
    """A context verifying servers as `ssl.create_default_context` does, against `ca_file`
    (a local stand-in's CA) or else certifi's CAs (those httpx trusts by default)."""
    context = TlsContext()
    if sys.version_info >= (3, 13):  # what create_default_context adds from Python 3.13
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
    if ca_file is None:
        import certifi  # httpx's own dependency

        ca_file = certifi.where()
    context.load_verify_locations(cafile=ca_file)
    return context


_SHARED: dict[str | None, TlsContext] = {}
_SHARED_LOCK = threading.Lock()


def shared_tls_context(ca_file: str | None = None) -> TlsContext:
    """The process's one context for `ca_file` (None: certifi's CAs), made at first use.
    Credentials never go into it (an APNs client certificate gets a context of its own)."""
    with _SHARED_LOCK:
        context = _SHARED.get(ca_file)
        if context is None:
            context = _SHARED[ca_file] = new_tls_context(ca_file)
        return context


class OnFirstUse:
    """An httpx.Client made the first time it is asked for, then kept: a delivering process
    makes only the clients of the channels its batches use (each costs millions of
    instructions). Thread-safe."""

    def __init__(self, make: Callable[[], httpx.Client]) -> None:
        self._make = make
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client

    @property
    def made(self) -> bool:
        return self._client is not None

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


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
