"""Opaque, tamper-evident page tokens.

A token says where a page starts - after or before a binding SID - and nothing else in
clear. Its MAC also covers the Service and the filters, so a token is refused when it is
replayed against another Service or with other filters, or when a byte of it changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import Enum

from notify_bindings.errors import InvalidPageToken
from notify_bindings.models import BindingFilters

_PREFIX = "PT"
_VERSION = 1
_SID_BYTES = 16
_MAC_BYTES = 16


class Direction(Enum):
    AFTER = 1
    BEFORE = 2


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Resume a listing strictly after (next page) or before (previous page) `sid`."""

    direction: Direction
    sid: str


class PageTokens:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(secret.encode()).digest()

    def issue(self, service_sid: str, filters: BindingFilters, cursor: PageCursor) -> str:
        body = bytes([_VERSION, cursor.direction.value]) + bytes.fromhex(cursor.sid[2:])
        mac = self._mac(service_sid, filters, body)
        return _PREFIX + base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def read(self, token: str, service_sid: str, filters: BindingFilters) -> PageCursor:
        if not token.startswith(_PREFIX):
            raise InvalidPageToken()
        encoded = token[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise InvalidPageToken() from None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(body) != 2 + _SID_BYTES or not hmac.compare_digest(
            mac, self._mac(service_sid, filters, body)
        ):
            raise InvalidPageToken()
        version, direction = body[0], body[1]
        if version != _VERSION or direction not in (d.value for d in Direction):
            raise InvalidPageToken()
        return PageCursor(Direction(direction), "BS" + body[2:].hex())

    def _mac(self, service_sid: str, filters: BindingFilters, body: bytes) -> bytes:
        scope = json.dumps(
            [
                service_sid,
                sorted(filters.identities),
                sorted(filters.tags),
                filters.start_date and filters.start_date.isoformat(),
                filters.end_date and filters.end_date.isoformat(),
            ]
        ).encode()
        return hmac.new(self._key, scope + b"\0" + body, hashlib.sha256).digest()[:_MAC_BYTES]
