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
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlencode

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


def _values(value: str | Sequence[str]) -> Iterable[str]:
    return (value,) if isinstance(value, str) else value
