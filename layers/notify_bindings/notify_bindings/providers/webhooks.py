"""Twilio's webhook signature, for the delivery callbacks this project posts.

`X-Twilio-Signature` is base64(HMAC-SHA1(auth token, url + the parameters)), the parameters
appended as name + value in sorted order of names, and for a repeated name each distinct value
in sorted order - exactly what twilio-python's RequestValidator (and Twilio's other helper
libraries) recompute, so a receiver validates our callbacks with the code it used for Twilio's.
The URL is signed as it will be requested (a validator also tries it with and without the
default port).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from notify_bindings.providers._transport import OnFirstUse, shared_tls_context

SIGNATURE_HEADER = "X-Twilio-Signature"

Params = Mapping[str, str | Sequence[str]]


def signature(auth_token: str, url: str, params: Params) -> str:
    """The X-Twilio-Signature of a form-encoded POST of `params` to `url`."""
    signed = url + "".join(
        name + value for name in sorted(params) for value in sorted(set(_values(params[name])))
    )
    mac = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def is_valid(auth_token: str, url: str, params: Params, given: str) -> bool:
    """Whether `given` is the signature of `params` posted to `url` (constant time)."""
    return hmac.compare_digest(signature(auth_token, url, params).encode(), given.encode())


def form_body(params: Params) -> bytes:
    """The application/x-www-form-urlencoded body of `params`, repeated names repeated."""
    pairs = [(name, value) for name in params for value in _values(params[name])]
    return urlencode(pairs).encode("ascii")


def signed_callback(auth_token: str, url: str, params: Params) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a signed form-encoded callback POST."""
    return form_body(params), {
        "Content-Type": "application/x-www-form-urlencoded",
        SIGNATURE_HEADER: signature(auth_token, url, params),
    }


# Posting callbacks. In a deployment a callback URL must be https and every address its host
# resolves to public: no loopback, private, link-local, multicast, reserved or unspecified
# address (no SSRF into the VPC or the instance metadata service). The address checked is the
# address connected to: the request goes to that IP, with the URL's host as Host header and TLS
# server name, so that a second DNS answer (DNS rebinding) cannot move it. Redirects are not
# followed. Locally (`allow_local`) http and loopback addresses are allowed as well.

CALLBACK_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


class CallbackRefused(ValueError):
    """The URL may not be called: its scheme, its host or an address it resolves to."""


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """What one POST came to: the receiver's status (None: no answer), whether trying again
    later may succeed (no answer, 429 or 5xx), and a short reason for logs."""

    status: int | None
    retryable: bool
    reason: str

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Resolver = Callable[[str, int], Sequence[str]]


def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver, as the connection would use)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def allowed_address(address: str, *, allow_local: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_local and ip.is_loopback:
        return True
    special = (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )
    return ip.is_global and not special


def pinned_target(
    url: str, *, allow_local: bool, resolve: Resolver = resolve_addresses
) -> tuple[httpx.URL, str]:
    """The URL to request (its host replaced by the checked address) and the host name it had;
    raises CallbackRefused."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise CallbackRefused("not a URL") from None
    schemes = ("https", "http") if allow_local else ("https",)
    if parsed.scheme not in schemes or not parsed.host:
        raise CallbackRefused("callback URLs must be https")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = resolve(parsed.host, port)
    except (OSError, UnicodeError):
        raise CallbackRefused("the callback host does not resolve") from None
    try:
        refused = not addresses or not all(
            allowed_address(a, allow_local=allow_local) for a in addresses
        )
    except ValueError:
        refused = True
    if refused:
        raise CallbackRefused("the callback host resolves to an address that is not public")
    if parsed.scheme == "http" and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise CallbackRefused("callback URLs must be https")
    return parsed.copy_with(host=addresses[0]), parsed.host


class CallbackPoster:
    """Posts signed callbacks, one attempt per `post`. Thread-safe; keep one per environment."""

    def __init__(
        self,
        *,
        allow_local: bool = False,
        resolve: Resolver = resolve_addresses,
        timeout: httpx.Timeout = CALLBACK_TIMEOUT,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        """`verify`: how receivers' certificates are verified (by default the process's shared
        context, certifi's CAs: providers/_transport; tests give one trusting their own CA)."""
        self._allow_local = allow_local
        self._resolve = resolve
        # No connection is reused: pooled by address, a connection made for one host name (its
        # TLS server name) could otherwise carry another's callback when both share an address.
        # Made at the first callback: most batches post none.
        self._http = OnFirstUse(
            lambda: httpx.Client(
                timeout=timeout,
                follow_redirects=False,
                limits=httpx.Limits(max_keepalive_connections=0),
                verify=verify or shared_tls_context(),
            )
        )

    def close(self) -> None:
        self._http.close()

    def post(self, url: str, auth_token: str, params: Params) -> CallbackAnswer:
        """POST `params` to `url`, signed with `auth_token`; raises CallbackRefused for a URL
        that may not be called."""
        target, host = pinned_target(url, allow_local=self._allow_local, resolve=self._resolve)
        body, headers = signed_callback(auth_token, url, params)
        original = httpx.URL(url)
        headers["Host"] = original.netloc.decode("ascii").rpartition("@")[2]
        headers["User-Agent"] = "notify-bindings-callbacks/1"
        try:
            response = self._http.get().post(
                target, content=body, headers=headers, extensions={"sni_hostname": host}
            )
        except httpx.TransportError as error:
            return CallbackAnswer(None, True, type(error).__name__)
        status = response.status_code
        retryable = status == 429 or status >= 500
        return CallbackAnswer(status, retryable, f"HTTP {status}")


def _values(value: str | Sequence[str]) -> Iterable[str]:
    return (value,) if isinstance(value, str) else value
