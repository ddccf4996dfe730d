"""The Binding operations: the rules of design.md between a validated request and the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from notify_bindings import dependencies
from notify_bindings.models import DEFAULT_PROTOCOL_VERSION, Binding
from notify_bindings.paging import Listing, cursor_of, listing
from notify_bindings.platform.errors import IdentityLimitExceeded, NotFound
from notify_bindings.platform.observability import count, logger
from notify_bindings.platform.sids import is_binding_sid, new_binding_sid
from notify_bindings.service_models import Service
from notify_bindings.store import MissingService, Outcome, PutResult

if TYPE_CHECKING:
    from notify_bindings.binding_forms import CreateBindingForm, ListBindingsQuery


def create_binding(account_sid: str, service_sid: str, form: CreateBindingForm) -> PutResult:
    kind = form.binding_type

    def binding_for(service: Service) -> Binding:
        created = dependencies.now()
        return Binding(
            sid=new_binding_sid(created),
            account_sid=account_sid,
            service_sid=service_sid,
            identity=form.identity,
            binding_type=kind,
            address=form.address,
            tags=form.tags,
            credential_sid=form.credential_sid if kind.takes_credential else None,
            notification_protocol_version=(
                form.notification_protocol_version
                or service.default_protocol_version(kind)
                or DEFAULT_PROTOCOL_VERSION
                if kind.is_push
                else None
            ),
            date_created=created.replace(microsecond=created.microsecond // 1000 * 1000),
            expires_at=service.expiry_of(created),
        )

    try:
        result = dependencies.binding_store().put(
            account_sid, service_sid, form.address, binding_for
        )
    except MissingService:
        raise NotFound(_bindings_path(service_sid)) from None
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


def fetch_binding(account_sid: str, service_sid: str, sid: str) -> Binding:
    store = dependencies.binding_store()
    binding = store.get(account_sid, service_sid, sid) if is_binding_sid(sid) else None
    if binding is None:
        raise NotFound(f"{_bindings_path(service_sid)}/{sid}")
    return binding


def delete_binding(account_sid: str, service_sid: str, sid: str) -> None:
    store = dependencies.binding_store()
    deleted = store.delete(account_sid, service_sid, sid) if is_binding_sid(sid) else None
    if deleted is None:
        raise NotFound(f"{_bindings_path(service_sid)}/{sid}")
    count("BindingsDeleted")
    logger.info("Binding deleted", extra={"service_sid": service_sid, "binding_sid": sid})


def list_bindings(account_sid: str, service_sid: str, query: ListBindingsQuery) -> Listing[Binding]:
    filters = query.filters()
    scope, signed = _bindings_path(service_sid), filters.query_pairs()
    cursor = cursor_of(query.page_token, scope, signed)
    try:
        page = dependencies.binding_store().list_page(
            account_sid, service_sid, filters, cursor, query.page_size
        )
    except MissingService:
        raise NotFound(_bindings_path(service_sid)) from None
    return listing(page, lambda binding: binding.sid, cursor, scope, signed)


def _bindings_path(service_sid: str) -> str:
    return f"/Services/{service_sid}/Bindings"
