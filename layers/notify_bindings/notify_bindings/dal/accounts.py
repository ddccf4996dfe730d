"""Accounts and API keys in AccountsTable: the credentials the authorizer checks.

Items, keyed by `Sid`:
    account   {Sid: AC…, AccountSid: AC… (itself), Kind: "account", FriendlyName, DateCreated,
               SecretHash, SecretSalt, SealedToken}: the auth token
    API key   {Sid: SK…, AccountSid: AC… (its owner), Kind: "key", FriendlyName, DateCreated,
               SecretHash, SecretSalt}: the key's secret
ByAccount (AccountSid, Sid) lists an account's keys. It projects FriendlyName, DateCreated and
Kind only, so no hash ever leaves the table through it; it is eventually consistent, so nothing
that decides access reads it.

Secrets are returned once, when they are made, and stored as a salted SHA-256 hash. An
account's auth token is also kept sealed (SealedToken: envelope encryption with a KMS key,
encryption context {account_sid}, see dal/sealing.py) when the store is given a sealer, because
delivery callbacks are signed with it (X-Twilio-Signature) as Twilio signs them: only functions
allowed kms:Decrypt on that key (those that deliver) can read it back. A token made or rotated
without a sealer removes any sealed copy, so that no stale token is ever read back.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from botocore.exceptions import ClientError

from notify_bindings.dal.dynamo import (
    Cancelled,
    DynamoDBClient,
    Item,
    Transaction,
    translated_errors,
)
from notify_bindings.platform.errors import Throttled, Unavailable
from notify_bindings.platform.sids import ACCOUNT_SID_PATTERN, new_sid

BY_ACCOUNT_INDEX = "ByAccount"
ACCOUNT_KIND = "account"
KEY_KIND = "key"
API_KEY_SID_PATTERN = r"^SK[0-9a-f]{32}$"
AUTH_TOKEN_PATTERN = r"^[0-9a-f]{32}$"  # noqa: S105 - a format, not a token  # nosec B105
MAX_FRIENDLY_NAME_LENGTH = 64

_ACCOUNT_SID = re.compile(ACCOUNT_SID_PATTERN)
_API_KEY_SID = re.compile(API_KEY_SID_PATTERN)
_AUTH_TOKEN = re.compile(AUTH_TOKEN_PATTERN)
_KEY_SECRET_ALPHABET = string.ascii_letters + string.digits
_KEY_SECRET_LENGTH = 32
_SALT_BYTES = 16
# Our secrets are 32 characters; anything much longer is not one of them and is not hashed.
_MAX_SECRET_LENGTH = 256
_CONDITION_FAILED = "ConditionalCheckFailedException"
_TRANSACTION_THROTTLED = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
_ATTEMPTS = 3  # of a write that meets a SID collision or a transaction conflict


class AccountNotFound(KeyError):
    """No account has this SID."""

    def __init__(self, account_sid: str) -> None:
        super().__init__(account_sid)
        self.account_sid = account_sid

    def __str__(self) -> str:
        return f"No account {self.account_sid}"


class Account(NamedTuple):
    sid: str
    friendly_name: str
    date_created: datetime


class ApiKey(NamedTuple):
    sid: str
    account_sid: str
    friendly_name: str
    date_created: datetime


class TokenSealer(Protocol):
    """Envelope encryption (dal.sealing.Sealer), given rather than imported: the authorizer,
    which only checks hashes, loads no cryptography."""

    def seal(self, secret: bytes, context: Mapping[str, str]) -> bytes: ...

    def open(self, blob: bytes, context: Mapping[str, str]) -> bytes: ...


class AccountStore:
    def __init__(
        self, client: DynamoDBClient, table: str, *, sealer: TokenSealer | None = None
    ) -> None:
        self._client = client
        self._table = table
        self._sealer = sealer

    # -- accounts ------------------------------------------------------------------------

    def create_account(
        self,
        friendly_name: str = "",
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
    ) -> tuple[Account, str]:
        """A new account and its auth token.

        A given SID and token (seeding a development account) are used as they are; when that
        account exists already its token is replaced, so seeding twice is harmless.
        """
        _check_friendly_name(friendly_name)
        if auth_token is not None and not _AUTH_TOKEN.fullmatch(auth_token):
            raise ValueError("an auth token is 32 lowercase hexadecimal digits")
        token = auth_token if auth_token is not None else secrets.token_hex(16)
        if account_sid is not None:
            if not _ACCOUNT_SID.fullmatch(account_sid):
                raise ValueError("an Account SID is 'AC' and 32 lowercase hexadecimal digits")
            return self._seed_account(account_sid, friendly_name, token), token
        for _ in range(_ATTEMPTS):
            account = Account(new_sid("AC"), friendly_name, _now())
            item = {
                **_key(account.sid),
                "AccountSid": {"S": account.sid},
                "Kind": {"S": ACCOUNT_KIND},
                "FriendlyName": {"S": friendly_name},
                "DateCreated": {"S": _format_date(account.date_created)},
                **_secret_attributes(token),
                **self._sealed_attributes(account.sid, token),
            }
            if self._put_new(item):
                return account, token
        raise Unavailable()  # a random 128-bit SID collided, again and again

    def _seed_account(self, account_sid: str, friendly_name: str, token: str) -> Account:
        # An empty name keeps the name a seeded account has; so does its creation date.
        name = ":name" if friendly_name else "if_not_exists(FriendlyName, :name)"
        sealed, sealing = self._sealed_update(account_sid, token)
        try:
            with translated_errors():
                response = self._client.update_item(
                    TableName=self._table,
                    Key=_key(account_sid),
                    UpdateExpression=(
                        "SET AccountSid = :sid, Kind = :account, SecretHash = :hash, "
                        f"SecretSalt = :salt, FriendlyName = {name}, "
                        f"DateCreated = if_not_exists(DateCreated, :now){sealing}"
                    ),
                    ConditionExpression="attribute_not_exists(Sid) OR Kind = :account",
                    ExpressionAttributeValues={
                        ":sid": {"S": account_sid},
                        ":account": {"S": ACCOUNT_KIND},
                        ":name": {"S": friendly_name},
                        ":now": {"S": _format_date(_now())},
                        **_secret_values(token),
                        **sealed,
                    },
                    ReturnValues="ALL_NEW",
                )
        except ClientError as error:
            if _code(error) == _CONDITION_FAILED:  # cannot happen while SIDs have prefixes
                raise ValueError(f"{account_sid} is not an account") from None
            raise
        return _account_from(response["Attributes"])

    def get_account(self, account_sid: str) -> Account | None:
        if not _ACCOUNT_SID.fullmatch(account_sid):
            return None
        item = self._get(account_sid, "Sid, Kind, FriendlyName, DateCreated")
        if item is None or item["Kind"]["S"] != ACCOUNT_KIND:
            return None
        return _account_from(item)

    def rotate_auth_token(self, account_sid: str) -> str:
        """A new auth token for the account; the old one stops working at once."""
        if not _ACCOUNT_SID.fullmatch(account_sid):
            raise AccountNotFound(account_sid)
        token = secrets.token_hex(16)
        sealed, sealing = self._sealed_update(account_sid, token)
        try:
            with translated_errors():
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(account_sid),
                    UpdateExpression=f"SET SecretHash = :hash, SecretSalt = :salt{sealing}",
                    ConditionExpression="Kind = :account",
                    ExpressionAttributeValues={
                        ":account": {"S": ACCOUNT_KIND},
                        **_secret_values(token),
                        **sealed,
                    },
                )
        except ClientError as error:
            if _code(error) == _CONDITION_FAILED:
                raise AccountNotFound(account_sid) from None
            raise
        return token

    def auth_token(self, account_sid: str) -> str | None:
        """The account's auth token, opened from its sealed copy: what signs its delivery
        callbacks. None when there is no such account, or its token was made before tokens
        were sealed (or without a sealer): rotating the token seals the new one. BrokenSeal
        (dal.sealing) when the copy does not open for this account; RuntimeError when this
        store has no sealer."""
        if self._sealer is None:
            raise RuntimeError("this account store has no sealer: it cannot open auth tokens")
        if not _ACCOUNT_SID.fullmatch(account_sid):
            return None
        item = self._get(account_sid, "Kind, SealedToken")
        if item is None or item["Kind"]["S"] != ACCOUNT_KIND or "SealedToken" not in item:
            return None
        blob = bytes(item["SealedToken"]["B"])
        return self._sealer.open(blob, _token_context(account_sid)).decode("ascii")

    def list_accounts(self) -> list[Account]:
        """Every account, oldest first: an administrator's listing.

        A Scan is the only way to list partition keys; it reads the index, which holds no
        hashes and is smaller than the table.
        """
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_ACCOUNT_INDEX,
            "FilterExpression": "Kind = :account",
            "ExpressionAttributeValues": {":account": {"S": ACCOUNT_KIND}},
        }
        accounts = [_account_from(item) for item in self._all_pages("scan", request)]
        return sorted(accounts, key=lambda account: (account.date_created, account.sid))

    # -- API keys ------------------------------------------------------------------------

    def create_api_key(self, account_sid: str, friendly_name: str = "") -> tuple[ApiKey, str]:
        """A new API key of the account and its secret; AccountNotFound if there is none."""
        _check_friendly_name(friendly_name)
        if not _ACCOUNT_SID.fullmatch(account_sid):
            raise AccountNotFound(account_sid)
        secret = "".join(secrets.choice(_KEY_SECRET_ALPHABET) for _ in range(_KEY_SECRET_LENGTH))
        for _ in range(_ATTEMPTS):
            key = ApiKey(new_sid("SK"), account_sid, friendly_name, _now())
            item = {
                **_key(key.sid),
                "AccountSid": {"S": account_sid},
                "Kind": {"S": KEY_KIND},
                "FriendlyName": {"S": friendly_name},
                "DateCreated": {"S": _format_date(key.date_created)},
                **_secret_attributes(secret),
            }
            # The account must exist when the key is written, not merely when it was looked at.
            plan = Transaction()
            account_check = plan.add(
                "ConditionCheck",
                self._table,
                Key=_key(account_sid),
                ConditionExpression="Kind = :account",
                ExpressionAttributeValues={":account": {"S": ACCOUNT_KIND}},
            )
            plan.add("Put", self._table, Item=item, ConditionExpression="attribute_not_exists(Sid)")
            try:
                plan.run(self._client)
            except Cancelled as cancelled:
                if cancelled.failed(account_check):
                    raise AccountNotFound(account_sid) from None
                if any(reason in _TRANSACTION_THROTTLED for reason in cancelled.reasons):
                    raise Throttled() from None
                continue  # the new SID collided, or another transaction conflicted: again
            return key, secret
        raise Unavailable()

    def revoke_api_key(self, key_sid: str) -> bool:
        """Delete the key; False when there is no such key. Its secret stops working at once."""
        if not _API_KEY_SID.fullmatch(key_sid):
            return False
        try:
            with translated_errors():
                self._client.delete_item(
                    TableName=self._table,
                    Key=_key(key_sid),
                    ConditionExpression="Kind = :key",
                    ExpressionAttributeValues={":key": {"S": KEY_KIND}},
                )
        except ClientError as error:
            if _code(error) == _CONDITION_FAILED:
                return False
            raise
        return True

    def list_api_keys(self, account_sid: str) -> list[ApiKey]:
        """The account's keys, oldest first. From the index: a key made or revoked a moment
        ago may be missing or still listed."""
        if not _ACCOUNT_SID.fullmatch(account_sid):
            return []
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_ACCOUNT_INDEX,
            "KeyConditionExpression": "AccountSid = :account AND begins_with(Sid, :prefix)",
            "ExpressionAttributeValues": {
                ":account": {"S": account_sid},
                ":prefix": {"S": "SK"},
            },
        }
        keys = [_api_key_from(item) for item in self._all_pages("query", request)]
        return sorted(keys, key=lambda key: (key.date_created, key.sid))

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> str | None:
        """The SID of the account that the credentials prove, else None.

        `username` is an Account SID with its auth token as `password`, or an API key SID with
        its secret. A key proves its account only while that account exists.
        """
        if _ACCOUNT_SID.fullmatch(username):
            kind = ACCOUNT_KIND
        elif _API_KEY_SID.fullmatch(username):
            kind = KEY_KIND
        else:
            return None
        if not 0 < len(password) <= _MAX_SECRET_LENGTH:
            return None
        item = self._get(username, "Kind, AccountSid, SecretHash, SecretSalt")
        if item is None or item["Kind"]["S"] != kind or not _proves(item, password):
            return None
        account_sid: str = item["AccountSid"]["S"]
        # Nothing in the key's item can tell that its account was deleted: ask the account.
        if kind == KEY_KIND and not self._is_account(account_sid):
            return None
        return account_sid

    def _is_account(self, account_sid: str) -> bool:
        item = self._get(account_sid, "Kind")
        return item is not None and item["Kind"]["S"] == ACCOUNT_KIND

    # -- sealed tokens -------------------------------------------------------------------

    def _sealed_attributes(self, account_sid: str, token: str) -> Item:
        if self._sealer is None:
            return {}
        blob = self._sealer.seal(token.encode("ascii"), _token_context(account_sid))
        return {"SealedToken": {"B": blob}}

    def _sealed_update(self, account_sid: str, token: str) -> tuple[Item, str]:
        """The values and the clause that keep the new token's sealed copy, or remove the old
        copy when this store cannot seal."""
        attributes = self._sealed_attributes(account_sid, token)
        if not attributes:
            return {}, " REMOVE SealedToken"
        return {":sealed": attributes["SealedToken"]}, ", SealedToken = :sealed"

    # -- DynamoDB ------------------------------------------------------------------------

    def _get(self, sid: str, projection: str) -> Item | None:
        with translated_errors():
            response = self._client.get_item(
                TableName=self._table,
                Key=_key(sid),
                ConsistentRead=True,
                ProjectionExpression=projection,
            )
        item: Item | None = response.get("Item")
        return item

    def _put_new(self, item: Item) -> bool:
        """Write `item` unless its SID is taken; False if it is."""
        try:
            with translated_errors():
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(Sid)",
                )
        except ClientError as error:
            if _code(error) == _CONDITION_FAILED:
                return False
            raise
        return True

    def _all_pages(self, operation: str, request: dict[str, Any]) -> list[Item]:
        items: list[Item] = []
        call = getattr(self._client, operation)
        while True:
            with translated_errors():
                response = call(**request)
            items += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return items
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}


# -- secrets -----------------------------------------------------------------------------


# Auth tokens carry 128 random bits and key secrets about 190, so no guess at them succeeds,
# whatever the hash costs. A slow password hash (bcrypt, scrypt, Argon2) protects secrets
# that people choose; here it would only slow every authorization down. The salt keeps equal
# secrets from having equal hashes and defeats precomputed tables.
def _hash(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


def _secret_attributes(secret: str) -> Item:
    salt = secrets.token_bytes(_SALT_BYTES)
    return {"SecretHash": {"B": _hash(salt, secret)}, "SecretSalt": {"B": salt}}


def _secret_values(secret: str) -> Item:
    attributes = _secret_attributes(secret)
    return {":hash": attributes["SecretHash"], ":salt": attributes["SecretSalt"]}


def _proves(item: Item, secret: str) -> bool:
    salt = bytes(item["SecretSalt"]["B"])
    return hmac.compare_digest(_hash(salt, secret), bytes(item["SecretHash"]["B"]))


# -- items -------------------------------------------------------------------------------


def _token_context(account_sid: str) -> dict[str, str]:
    return {"account_sid": account_sid}


def _key(sid: str) -> Item:
    return {"Sid": {"S": sid}}


def _account_from(item: Item) -> Account:
    return Account(
        sid=item["Sid"]["S"],
        friendly_name=item.get("FriendlyName", {}).get("S", ""),
        date_created=datetime.fromisoformat(item["DateCreated"]["S"]),
    )


def _api_key_from(item: Item) -> ApiKey:
    return ApiKey(
        sid=item["Sid"]["S"],
        account_sid=item["AccountSid"]["S"],
        friendly_name=item.get("FriendlyName", {}).get("S", ""),
        date_created=datetime.fromisoformat(item["DateCreated"]["S"]),
    )


def _check_friendly_name(friendly_name: str) -> None:
    if len(friendly_name) > MAX_FRIENDLY_NAME_LENGTH or any(
        not character.isprintable() for character in friendly_name
    ):
        raise ValueError(
            f"a friendly name is at most {MAX_FRIENDLY_NAME_LENGTH} printable characters"
        )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _format_date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _code(error: ClientError) -> str:
    code: str = error.response.get("Error", {}).get("Code", "")
    return code
