"""HTTP Basic credentials, as Twilio's clients send them, turned into the account they prove.

The username is an Account SID (its auth token the password) or an API key SID (its secret).
Nothing here logs a secret, a header, or anything derived from either but a yes or a no.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Protocol

from notify_bindings.platform.observability import logger

# Far more than any SID and secret take; a longer header is refused before it is decoded.
_MAX_CREDENTIALS_LENGTH = 1024
_MAX_CACHED = 1024


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic …` header, else None."""
    if header is None or len(header) > _MAX_CREDENTIALS_LENGTH:
        return None
    parts = header.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(parts[1].strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), or not UTF-8 (UnicodeDecodeError)
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


class CredentialStore(Protocol):
    def authenticate(self, username: str, password: str) -> str | None: ...


class Authenticator:
    """Which account an Authorization header proves, remembering proven credentials for
    `ttl_seconds` (0: never), so that a warm authorizer does not read DynamoDB per request.

    Only successes are remembered, under a keyed hash of the credentials: the secret itself is
    never kept. A rotated token or a revoked key may therefore work here for up to
    `ttl_seconds` more; that is the bargain the template's AuthCacheSeconds states.
    """

    def __init__(
        self,
        store: CredentialStore,
        ttl_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must not be negative")
        self._store = store
        self._ttl = ttl_seconds
        self._clock = clock
        # Keys the cache's hashes, so that a copy of this process's memory yields nothing that
        # could be checked against guessed credentials elsewhere.
        self._cache_key = secrets.token_bytes(32)
        self._proven: dict[bytes, tuple[float, str]] = {}  # hash -> (expiry, account SID)

    def account_for(self, authorization: str | None) -> str | None:
        credentials = parse_basic(authorization)
        if credentials is None:
            reason = "missing" if not authorization else "malformed"
            logger.info("Credentials refused", extra={"reason": reason})
            return None
        username, password = credentials
        kind = username[:2] if username[:2] in ("AC", "SK") else "other"
        fingerprint = self._fingerprint(username, password)
        account_sid = self._remembered(fingerprint)
        cached = account_sid is not None
        if account_sid is None:
            account_sid = self._store.authenticate(username, password)
        if account_sid is None:
            logger.info("Credentials refused", extra={"reason": "not proven", "kind": kind})
            return None
        if not cached:
            self._remember(fingerprint, account_sid)
        logger.info(
            "Credentials accepted",
            extra={"kind": kind, "account_sid": account_sid, "cached": cached},
        )
        return account_sid

    def _fingerprint(self, username: str, password: str) -> bytes:
        # The username ends at the first colon, so "username:password" is unambiguous.
        credentials = f"{username}:{password}".encode("utf-8", errors="surrogatepass")
        return hmac.new(self._cache_key, credentials, hashlib.sha256).digest()

    def _remembered(self, fingerprint: bytes) -> str | None:
        entry = self._proven.get(fingerprint)
        if entry is None:
            return None
        expiry, account_sid = entry
        if self._clock() >= expiry:
            del self._proven[fingerprint]
            return None
        return account_sid

    def _remember(self, fingerprint: bytes, account_sid: str) -> None:
        if self._ttl <= 0:
            return
        now = self._clock()
        if len(self._proven) >= _MAX_CACHED:
            self._proven = {k: v for k, v in self._proven.items() if v[0] > now}
            while len(self._proven) >= _MAX_CACHED:  # all still fresh: the oldest goes
                del self._proven[next(iter(self._proven))]
        self._proven[fingerprint] = (now + self._ttl, account_sid)
