"""The Binding operations: the rules of design.md between a request and the store."""

from __future__ import annotations

from notify_bindings import dependencies
from notify_bindings.domain.bindings import (
    DEFAULT_PROTOCOL_VERSION,
    Binding,
    BindingFilters,
    BindingType,
    Outcome,
    PutResult,
    Registration,
)
from notify_bindings.domain.credentials import CredentialType
from notify_bindings.domain.paging import Listing, PageCursor, sid_listing
from notify_bindings.domain.services import MissingService, Service
from notify_bindings.operations.credentials import require_credential
from notify_bindings.platform.errors import IdentityLimitExceeded, NotFound
from notify_bindings.platform.observability import count, logger
from notify_bindings.platform.sids import is_binding_sid, new_binding_sid

# The Credentials a binding of each kind may name (gcm and fcm both deliver through FCM v1).
_FITTING_CREDENTIALS = {
    BindingType.APN: frozenset({CredentialType.APN}),
    BindingType.FCM: frozenset({CredentialType.FCM, CredentialType.GCM}),
    BindingType.GCM: frozenset({CredentialType.FCM, CredentialType.GCM}),
}


def create_binding(account_sid: str, service_sid: str, registration: Registration) -> PutResult:
    kinds = _FITTING_CREDENTIALS.get(registration.binding_type)
    if registration.credential_sid is not None and kinds is not None:
        require_credential(account_sid, "CredentialSid", registration.credential_sid, kinds)

    def binding_for(service: Service) -> Binding:
        return new_binding(account_sid, service, registration)

    try:
        result = dependencies.binding_store().put(
            account_sid, service_sid, registration.address, binding_for
        )
    except MissingService:
        raise NotFound(bindings_path(service_sid)) from None
    except IdentityLimitExceeded:
        count("IdentityLimitRefusals")
        raise
    count(_PUT_METRICS[result.outcome])
    # Addresses and identities are personal data: logs name bindings by SID only. An app
    # registers its token again at every start: those unchanged re-creates, the most common
    # request, are counted by the metric and logged only at DEBUG (log volume is billed).
    log = logger.debug if result.outcome is Outcome.UNCHANGED else logger.info
    log(
        "Binding stored",
        extra={
            "outcome": result.outcome.value,
            "service_sid": service_sid,
            "binding_sid": result.binding.sid,
        },
    )
    if result.evicted is not None:
        count("BindingsEvicted")
        logger.info(
            "Oldest binding of the identity evicted",
            extra={"service_sid": service_sid, "binding_sid": result.evicted.sid},
        )
    return result


_PUT_METRICS = {
    Outcome.CREATED: "BindingsCreated",
    Outcome.REPLACED: "BindingsReplaced",
    Outcome.UNCHANGED: "BindingsUnchanged",
}


def new_binding(account_sid: str, service: Service, registration: Registration) -> Binding:
    """The binding a registration makes in `service`, now: a new time-ordered SID, the
    Service's defaults where the registration gives none, its expiry under the Service's
    binding_ttl_days."""
    kind = registration.binding_type
    created = dependencies.now()
    return Binding(
        sid=new_binding_sid(created),
        account_sid=account_sid,
        service_sid=service.sid,
        identity=registration.identity,
        binding_type=kind,
        address=registration.address,
        tags=registration.tags,
        credential_sid=registration.credential_sid if kind.takes_credential else None,
        notification_protocol_version=(
            registration.notification_protocol_version
            or service.default_protocol_version(kind)
            or DEFAULT_PROTOCOL_VERSION
            if kind.is_push
            else None
        ),
        date_created=created.replace(microsecond=created.microsecond // 1000 * 1000),
        expires_at=service.expiry_of(created),
    )


def fetch_binding(account_sid: str, service_sid: str, sid: str) -> Binding:
    store = dependencies.binding_store()
    binding = store.get(account_sid, service_sid, sid) if is_binding_sid(sid) else None
    if binding is None:
        raise NotFound(f"{bindings_path(service_sid)}/{sid}")
    return binding


def delete_binding(account_sid: str, service_sid: str, sid: str) -> None:
    store = dependencies.binding_store()
    deleted = store.delete(account_sid, service_sid, sid) if is_binding_sid(sid) else None
    if deleted is None:
        raise NotFound(f"{bindings_path(service_sid)}/{sid}")
    count("BindingsDeleted")
    logger.info("Binding deleted", extra={"service_sid": service_sid, "binding_sid": sid})


def list_bindings(
    account_sid: str,
    service_sid: str,
    filters: BindingFilters,
    cursor: PageCursor | None,
    size: int,
) -> Listing[Binding, PageCursor]:
    try:
        page = dependencies.binding_store().list_page(
            account_sid, service_sid, filters, cursor, size
        )
    except MissingService:
        raise NotFound(bindings_path(service_sid)) from None
    return sid_listing(page, lambda binding: binding.sid, cursor)


def bindings_path(service_sid: str) -> str:
    """The path of the Service's Bindings, as Twilio's 404 messages name it."""
    return f"/Services/{service_sid}/Bindings"
