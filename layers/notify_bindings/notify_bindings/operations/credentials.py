"""The Credential operations. A Credential belongs to the account that created it; to any other
account it does not exist. Its material is checked when given (as the delivering functions will
read it) and sealed; it is never returned, logged, or read back here."""

from __future__ import annotations

from dataclasses import replace

from notify_bindings import dependencies
from notify_bindings.domain.credentials import Credential, CredentialMaterial, CredentialType
from notify_bindings.domain.paging import Listing, PageCursor, sid_listing
from notify_bindings.platform.errors import InvalidParameter, NotFound
from notify_bindings.platform.observability import count, logger
from notify_bindings.platform.sids import time_ordered_sid

_SANDBOX, _PRODUCTION = "sandbox", "production"


def create_credential(
    account_sid: str,
    kind: CredentialType,
    material: CredentialMaterial | None,
    *,
    friendly_name: str | None = None,
    sandbox: bool | None = None,
) -> Credential:
    checked = _checked(kind, material or CredentialMaterial(), sandbox)
    now = dependencies.now()
    credential = Credential(
        sid=time_ordered_sid("CR", now),
        account_sid=account_sid,
        type=kind,
        date_created=now,
        date_updated=now,
        friendly_name=friendly_name,
        sandbox=_sandbox(kind, sandbox),
        environments=checked,
    )
    dependencies.credential_store().create(credential, material or CredentialMaterial())
    count("CredentialsCreated")
    logger.info("Credential created", extra={"credential_sid": credential.sid})
    return credential


def fetch_credential(account_sid: str, sid: str) -> Credential:
    credential = dependencies.credential_store().get(account_sid, sid)
    if credential is None:
        raise NotFound(_path(sid))
    return credential


def list_credentials(
    account_sid: str, cursor: PageCursor | None, size: int
) -> Listing[Credential, PageCursor]:
    page = dependencies.credential_store().list_page(account_sid, cursor, size)
    return sid_listing(page, lambda credential: credential.sid, cursor)


def update_credential(
    account_sid: str,
    sid: str,
    material: CredentialMaterial | None,
    *,
    friendly_name: str | None = None,
    sandbox: bool | None = None,
) -> Credential:
    """Change what is given. The stored secrets are never read back (only the delivering
    functions may decrypt them), so new material replaces the old as a whole and must be
    complete for its kind; a change of Sandbox alone is checked against what the stored
    certificate opens."""
    store = dependencies.credential_store()
    current = store.get(account_sid, sid)
    if current is None:
        raise NotFound(_path(sid))
    wanted_sandbox = sandbox if sandbox is not None else current.sandbox
    changed = replace(
        current,
        friendly_name=friendly_name if friendly_name is not None else current.friendly_name,
        sandbox=_sandbox(current.type, wanted_sandbox),
        date_updated=dependencies.now(),
    )
    if material is not None:
        checked = _checked(current.type, material, wanted_sandbox, replacing=True)
        changed = replace(changed, environments=checked)
    elif sandbox is not None and current.environments:
        _check_environment(sandbox, current.environments)
    updated = store.update(changed, material)
    if updated is None:
        raise NotFound(_path(sid))
    logger.info("Credential updated", extra={"credential_sid": sid})
    return updated


def delete_credential(account_sid: str, sid: str) -> None:
    """The Credential is gone at once. Services and bindings that name it keep the SID; their
    deliveries then fail (52002, as for a credential that cannot be used)."""
    if not dependencies.credential_store().delete(account_sid, sid):
        raise NotFound(_path(sid))
    count("CredentialsDeleted")
    logger.info("Credential deleted", extra={"credential_sid": sid})


def require_credential(
    account_sid: str, parameter: str, sid: str, kinds: frozenset[CredentialType]
) -> None:
    """InvalidParameter naming `parameter` unless `sid` is a Credential of the caller's account
    of one of `kinds` (one GetItem)."""
    credential = dependencies.credential_store().get(account_sid, sid)
    if credential is None or credential.type not in kinds:
        wanted = " or ".join(sorted(kind.value for kind in kinds))
        raise InvalidParameter(
            f"Parameter '{parameter}' is invalid: {sid} is not an {wanted} Credential of this "
            "account"
        )


def _checked(
    kind: CredentialType,
    material: CredentialMaterial,
    sandbox: bool | None,
    *,
    replacing: bool = False,
) -> frozenset[str]:
    """The material checked; the APNs environments of a certificate (empty otherwise)."""
    # Loaded here: the parsers (and cryptography) are for the functions that create and update.
    from notify_bindings.dal.credential_material import (
        InvalidCredential,
        environments_of,
        read_material,
    )

    try:
        return environments_of(read_material(kind, material, sandbox))
    except InvalidCredential as error:
        note = " (stored secrets are not read back: give them all again)" if replacing else ""
        message = f"Parameter '{error.parameter}' is invalid: {error.message}{note}"
        raise InvalidParameter(message) from None


def _sandbox(kind: CredentialType, sandbox: bool | None) -> bool | None:
    if kind is not CredentialType.APN:
        return None
    return bool(sandbox)


def _check_environment(sandbox: bool, environments: frozenset[str]) -> None:
    wanted = _SANDBOX if sandbox else _PRODUCTION
    if wanted not in environments:
        (opened,) = environments
        raise InvalidParameter(
            f"Parameter 'Sandbox' is invalid: is {str(sandbox).lower()}, but the certificate "
            f"is for {opened} APNs"
        )


def _path(sid: str) -> str:
    return f"/Credentials/{sid}"
