"""The development accounts the local API creates at start-up, so that requests can
authenticate: NOTIFY_ACCOUNT_SID / NOTIFY_AUTH_TOKEN (or a generated account) and any listed
in NOTIFY_DEV_ACCOUNTS="AC...:token,AC...:token". They are created through the layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FRIENDLY_NAME = "Development"


@dataclass(frozen=True)
class AccountRequest:
    """An account to create, and the variable that asks for it; None lets the store generate
    the SID and the token."""

    source: str
    sid: str | None = None
    auth_token: str | None = None


@dataclass(frozen=True)
class DevAccount:
    sid: str
    auth_token: str


def requested_accounts(environ: Mapping[str, str]) -> list[AccountRequest]:
    """The accounts `environ` asks for; ValueError, naming the variable, when it is malformed."""
    sid, token = environ.get("NOTIFY_ACCOUNT_SID"), environ.get("NOTIFY_AUTH_TOKEN")
    if bool(sid) != bool(token):
        raise ValueError("set NOTIFY_ACCOUNT_SID and NOTIFY_AUTH_TOKEN together, or neither")
    requests = [AccountRequest("NOTIFY_ACCOUNT_SID", sid or None, token or None)]
    entries = [e.strip() for e in environ.get("NOTIFY_DEV_ACCOUNTS", "").split(",") if e.strip()]
    for number, entry in enumerate(entries, 1):
        extra_sid, _, extra_token = entry.partition(":")
        if not extra_sid or not extra_token:  # not echoed: it may hold a token
            raise ValueError(f"NOTIFY_DEV_ACCOUNTS: entry {number} is not AC...:token")
        requests.append(AccountRequest("NOTIFY_DEV_ACCOUNTS", extra_sid, extra_token))
    return requests


def seed_accounts(
    client: Any, accounts_table: str, requests: list[AccountRequest], sealer: Any = None
) -> list[DevAccount]:
    """Create the requested accounts in `accounts_table` through the layer's AccountStore
    (the layer must be importable: see runtime.put_layers_on_path), their auth tokens sealed
    with `sealer` when given, as delivery callbacks need them."""
    from notify_bindings.dal.accounts import AccountStore

    store = (
        AccountStore(client, accounts_table)
        if sealer is None
        else AccountStore(client, accounts_table, sealer=sealer)
    )
    accounts = []
    for request in requests:
        try:
            account, token = store.create_account(
                FRIENDLY_NAME, account_sid=request.sid, auth_token=request.auth_token
            )
        except ValueError as error:  # the store's word on what a SID or a token looks like
            raise ValueError(f"{request.source}: {error}") from None
        accounts.append(DevAccount(account.sid, token))
    return accounts
