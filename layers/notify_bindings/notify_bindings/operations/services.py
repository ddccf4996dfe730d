"""The Service operations. A Service belongs to the account that created it; to any other
account it does not exist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notify_bindings import dependencies
from notify_bindings.domain.credentials import CredentialType
from notify_bindings.domain.paging import Listing, PageCursor, sid_listing
from notify_bindings.domain.services import Service
from notify_bindings.operations.credentials import require_credential
from notify_bindings.operations.purge import request_purge
from notify_bindings.platform.errors import NotFound
from notify_bindings.platform.observability import count, logger
from notify_bindings.platform.sids import is_service_sid, time_ordered_sid

# The Service's Credential settings, the parameter that names each, and the Credentials that fit
# it: gcm is delivered through FCM HTTP v1 as fcm is, so either fits either.
_PUSH = frozenset({CredentialType.FCM, CredentialType.GCM})
CREDENTIAL_SETTINGS: dict[str, tuple[str, frozenset[CredentialType]]] = {
    "apn_credential_sid": ("ApnCredentialSid", frozenset({CredentialType.APN})),
    "fcm_credential_sid": ("FcmCredentialSid", _PUSH),
    "gcm_credential_sid": ("GcmCredentialSid", _PUSH),
    "sms_credential_sid": ("SmsCredentialSid", frozenset({CredentialType.SMS})),
}


def _check_credentials(account_sid: str, settings: Mapping[str, Any]) -> None:
    for name, (parameter, kinds) in CREDENTIAL_SETTINGS.items():
        sid = settings.get(name)
        if sid is not None:
            require_credential(account_sid, parameter, sid, kinds)


def create_service(account_sid: str, settings: Mapping[str, Any]) -> Service:
    """A new Service with the `settings` given (by their names in `Service`; None: its
    default). Credentials it names must be the account's own, of a fitting type."""
    _check_credentials(account_sid, settings)
    now = dependencies.now()
    given = {name: value for name, value in settings.items() if value is not None}
    service = Service(
        sid=time_ordered_sid("IS", now),
        account_sid=account_sid,
        date_created=now,
        date_updated=now,
        **given,
    )
    dependencies.service_store().create(service)
    count("ServicesCreated")
    logger.info("Service created", extra={"service_sid": service.sid})
    return service


def fetch_service(account_sid: str, sid: str) -> Service:
    service = dependencies.service_store().get(account_sid, sid) if is_service_sid(sid) else None
    if service is None:
        raise NotFound(_service_path(sid))
    return service


def update_service(account_sid: str, sid: str, changes: Mapping[str, Any]) -> Service:
    """Change the settings `changes` names (None clears one), leave the others."""
    if is_service_sid(sid):
        _check_credentials(account_sid, changes)
    store = dependencies.service_store()
    changed = (
        store.update(account_sid, sid, dict(changes), dependencies.now())
        if is_service_sid(sid)
        else None
    )
    if changed is None:
        raise NotFound(_service_path(sid))
    return changed


def list_services(
    account_sid: str, friendly_name: str | None, cursor: PageCursor | None, size: int
) -> Listing[Service, PageCursor]:
    page = dependencies.service_store().list_page(account_sid, friendly_name, cursor, size)
    return sid_listing(page, lambda service: service.sid, cursor)


def delete_service(account_sid: str, sid: str) -> None:
    """The Service is gone at once; its bindings are purged in the background.

    Marking it deleted comes first, so that from then on nothing reads or writes its
    bindings; the purge request follows. Should sending it fail, the client's retry of the
    DELETE sends it again (and, the Service being gone already, answers 404).
    """
    store = dependencies.service_store()
    marked = (
        store.mark_deleted(account_sid, sid, dependencies.now()) if is_service_sid(sid) else None
    )
    if marked is None:
        raise NotFound(_service_path(sid))
    request_purge(account_sid, sid)
    if not marked:
        raise NotFound(_service_path(sid))
    count("ServicesDeleted")
    logger.info("Service deleted", extra={"service_sid": sid})


def _service_path(sid: str) -> str:
    return f"/Services/{sid}"
