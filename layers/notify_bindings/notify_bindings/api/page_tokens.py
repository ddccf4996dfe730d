"""Opaque, tamper-evident page tokens: the cursors of `domain/paging.py` as they travel in a
list's URLs.

A token says where a page starts - after or before a SID - and nothing else in clear. Its
MAC also covers the listing's scope (the Service, or the account) and its filters, so a token
is refused when it is replayed elsewhere or with other filters, or when a byte of it changes.

Listings ordered by something else than SIDs (the Users of a Service, by identity) use key
tokens: the same MAC over a key of any text (`KeyCursor`), in a version of their own, so that
neither kind of token is ever read as the other.

Handlers go through `Paging`: the cursor a request's `PageToken` names, and the links of the
page it gets, signed with the deployment's page-token secret (from Secrets Manager, read once
per execution environment by `dependencies.page_token_secret`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any, Protocol

from notify_bindings import dependencies
from notify_bindings.api.responses.pages import PageLinks
from notify_bindings.domain.paging import Direction, KeyCursor, Listing, PageCursor
from notify_bindings.platform.errors import InvalidPageToken

_PREFIX = "PT"
_VERSION = 2
_KEY_VERSION = 3
_INCLUSIVE = 0x10  # a key cursor's flag, beside its direction: the key itself is included
_SID_BYTES = 18  # the two-letter prefix and 32 hex digits
_MAC_BYTES = 16
# What `issue` writes after the prefix: the URL-safe alphabet, without padding.
_ENCODED = re.compile(r"[A-Za-z0-9_-]*")


Filters = Iterable[tuple[str, str]]  # a listing's filters as query-string pairs


class PageTokens:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(secret.encode()).digest()

    def issue(self, scope: str, filters: Filters, cursor: PageCursor) -> str:
        sid = cursor.sid[:2].encode("ascii") + bytes.fromhex(cursor.sid[2:])
        body = bytes([_VERSION, cursor.direction.value]) + sid
        mac = self._mac(scope, filters, body)
        return _PREFIX + base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def read(self, token: str, scope: str, filters: Filters) -> PageCursor:
        body = self._verified(token, scope, filters)
        if len(body) != 2 + _SID_BYTES:
            raise InvalidPageToken()
        version, direction = body[0], body[1]
        if version != _VERSION or direction not in (d.value for d in Direction):
            raise InvalidPageToken()
        prefix = body[2:4].decode("ascii", errors="replace")
        return PageCursor(Direction(direction), prefix + body[4:].hex())

    def issue_key(self, scope: str, filters: Filters, cursor: KeyCursor) -> str:
        flags = cursor.direction.value | (_INCLUSIVE if cursor.inclusive else 0)
        body = bytes([_KEY_VERSION, flags]) + cursor.key.encode("utf-8")
        mac = self._mac(scope, filters, body)
        return _PREFIX + base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def read_key(self, token: str, scope: str, filters: Filters) -> KeyCursor:
        body = self._verified(token, scope, filters)
        if len(body) < 2 or body[0] != _KEY_VERSION:
            raise InvalidPageToken()
        direction, inclusive = body[1] & ~_INCLUSIVE, bool(body[1] & _INCLUSIVE)
        if direction not in (d.value for d in Direction):
            raise InvalidPageToken()
        try:
            key = body[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPageToken() from None
        return KeyCursor(Direction(direction), key, inclusive)

    def _verified(self, token: str, scope: str, filters: Filters) -> bytes:
        """The token's body, once its MAC proves it was issued for this scope and filters."""
        if not token.startswith(_PREFIX):
            raise InvalidPageToken()
        raw = _decoded(token[len(_PREFIX) :])
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, self._mac(scope, filters, body)):
            raise InvalidPageToken()
        return body

    def _mac(self, scope: str, filters: Filters, body: bytes) -> bytes:
        # The filters' order does not matter to a listing, so it does not matter here either.
        signed = json.dumps([scope, sorted(filters)]).encode()
        return hmac.new(self._key, signed + b"\0" + body, hashlib.sha256).digest()[:_MAC_BYTES]


def _decoded(encoded: str) -> bytes:
    """The bytes `encoded` is the one encoding of, as `issue` writes it. Python's decoder drops
    characters outside the alphabet, takes extra padding and ignores a last character's unused
    bits: each would make another token of the same page, so each is refused here."""
    if not _ENCODED.fullmatch(encoded):
        raise InvalidPageToken()
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPageToken() from None
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != encoded:
        raise InvalidPageToken()
    return raw


class ListQuery(Protocol):
    """What a list's query says of paging (every query of `api/requests/` that lists)."""

    @property
    def page_size(self) -> int: ...
    @property
    def page(self) -> int: ...
    @property
    def page_token(self) -> str | None: ...
    def filter_pairs(self) -> list[tuple[str, str]]: ...


class Paging:
    """The page tokens of one list request: the cursor its `PageToken` names (InvalidPageToken,
    a 400, for one not issued for this `scope` and these filters), and the links of the page it
    gets, with the tokens of the pages beside it."""

    def __init__(self, scope: str, query: ListQuery) -> None:
        self.scope = scope
        self.query = query

    def cursor(self) -> PageCursor | None:
        token = self.query.page_token
        return _tokens().read(token, self.scope, self.query.filter_pairs()) if token else None

    def key_cursor(self) -> KeyCursor | None:
        token = self.query.page_token
        return _tokens().read_key(token, self.scope, self.query.filter_pairs()) if token else None

    def links(self, listing: Listing[Any, PageCursor] | Listing[Any, KeyCursor]) -> PageLinks:
        return PageLinks(
            filters=self.query.filter_pairs(),
            page_size=self.query.page_size,
            page=self.query.page,
            page_token=self.query.page_token,
            next_page_token=self._token(listing.after),
            previous_page_token=self._token(listing.before),
        )

    def _token(self, cursor: PageCursor | KeyCursor | None) -> str | None:
        if cursor is None:
            return None
        tokens, filters = _tokens(), self.query.filter_pairs()
        if isinstance(cursor, KeyCursor):
            return tokens.issue_key(self.scope, filters, cursor)
        return tokens.issue(self.scope, filters, cursor)


# The scope each listing's tokens are signed for: a token works only in the listing it came from.


def services_scope(account_sid: str) -> str:
    return f"{account_sid}/Services"


def credentials_scope(account_sid: str) -> str:
    return f"{account_sid}/Credentials"


def bindings_scope(service_sid: str) -> str:
    return f"/Services/{service_sid}/Bindings"


def user_bindings_scope(service_sid: str, identity: str) -> str:
    # The identity is in the scope the token is signed for, so it is bound to this User.
    return f"/Services/{service_sid}/Users/{identity}/Bindings"


def users_scope(service_sid: str) -> str:
    return f"/Services/{service_sid}/Users"


def _tokens() -> PageTokens:
    return _signed_with(dependencies.page_token_secret())


@cache
def _signed_with(secret: str) -> PageTokens:
    return PageTokens(secret)
