"""The Binding operations: the rules of design.md between a validated request and the store."""

from __future__ import annotations

from dataclasses import dataclass

from notify_bindings import dependencies
from notify_bindings.errors import IdentityLimitExceeded, NotFound
from notify_bindings.models import (
    DEFAULT_PROTOCOL_VERSION,
    Binding,
    CreateBindingForm,
    ListBindingsQuery,
)
from notify_bindings.observability import count, logger
from notify_bindings.sids import is_binding_sid, new_binding_sid, predecessor, successor
from notify_bindings.store import Outcome, PutResult
from notify_bindings.tokens import Direction, PageCursor


def create_binding(service_sid: str, account_sid: str, form: CreateBindingForm) -> PutResult:
    created = dependencies.now()
    kind = form.binding_type
    binding = Binding(
        sid=new_binding_sid(created),
        account_sid=account_sid,
        service_sid=service_sid,
        identity=form.identity,
        binding_type=kind,
        address=form.address,
        tags=form.tags,
        credential_sid=form.credential_sid if kind.takes_credential else None,
        notification_protocol_version=(
            (form.notification_protocol_version or DEFAULT_PROTOCOL_VERSION)
            if kind.is_push
            else None
        ),
        date_created=created.replace(microsecond=created.microsecond // 1000 * 1000),
    )
    try:
        result = dependencies.binding_store().put(binding)
    except IdentityLimitExceeded:
        count("IdentityLimitRefusals")
        raise
    count(_PUT_METRICS[result.outcome])
    # Addresses and identities are personal data: logs name bindings by SID only.
    logger.info(
        "Binding stored",
        extra={
            "outcome": result.outcome.value,
            "service_sid": service_sid,
            "binding_sid": result.binding.sid,
        },
    )
    return result


_PUT_METRICS = {
    Outcome.CREATED: "BindingsCreated",
    Outcome.REPLACED: "BindingsReplaced",
    Outcome.UNCHANGED: "BindingsUnchanged",
}


def fetch_binding(service_sid: str, sid: str) -> Binding:
    binding = dependencies.binding_store().get(service_sid, sid) if is_binding_sid(sid) else None
    if binding is None:
        raise NotFound(_binding_path(service_sid, sid))
    return binding


def delete_binding(service_sid: str, sid: str) -> None:
    deleted = dependencies.binding_store().delete(service_sid, sid) if is_binding_sid(sid) else None
    if deleted is None:
        raise NotFound(_binding_path(service_sid, sid))
    count("BindingsDeleted")
    logger.info("Binding deleted", extra={"service_sid": service_sid, "binding_sid": sid})


@dataclass(frozen=True, slots=True)
class BindingList:
    bindings: list[Binding]
    next_page_token: str | None
    previous_page_token: str | None


def list_bindings(service_sid: str, query: ListBindingsQuery) -> BindingList:
    tokens = dependencies.page_tokens()
    filters = query.filters()
    cursor = tokens.read(query.page_token, service_sid, filters) if query.page_token else None
    page = dependencies.binding_store().list_page(service_sid, filters, cursor, query.page_size)
    # A page's neighbours start just past its first and last SIDs; an empty page (its
    # bindings deleted meanwhile) leads back to the SID that its cursor named.
    first = page.bindings[0].sid if page.bindings else None
    last = page.bindings[-1].sid if page.bindings else None
    if not page.bindings and cursor is not None:
        if cursor.direction is Direction.AFTER:
            first = successor(cursor.sid)
        else:
            last = predecessor(cursor.sid)
    next_token = previous_token = None
    if page.more_after and last:
        next_token = tokens.issue(service_sid, filters, PageCursor(Direction.AFTER, last))
    if page.more_before and first:
        previous_token = tokens.issue(service_sid, filters, PageCursor(Direction.BEFORE, first))
    return BindingList(page.bindings, next_token, previous_token)


def _binding_path(service_sid: str, sid: str) -> str:
    return f"/Services/{service_sid}/Bindings/{sid}"
