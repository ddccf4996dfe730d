"""The Service operations. A Service belongs to the account that created it; to any other
account it does not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, StringConstraints

from notify_bindings import dependencies
from notify_bindings.dynamo import translated_errors
from notify_bindings.paging import Listing, cursor_of, listing
from notify_bindings.platform import deadline
from notify_bindings.platform.errors import NotFound, Throttled, Unavailable
from notify_bindings.platform.observability import count, logger
from notify_bindings.platform.sids import (
    ACCOUNT_SID_PATTERN,
    SERVICE_SID_PATTERN,
    is_service_sid,
    time_ordered_sid,
)
from notify_bindings.service_models import Service

if TYPE_CHECKING:
    from notify_bindings.service_api import ListServicesQuery, ServiceForm


def create_service(account_sid: str, form: ServiceForm) -> Service:
    now = dependencies.now()
    changes = {name: value for name, value in form.changes().items() if value is not None}
    service = Service(
        sid=time_ordered_sid("IS", now),
        account_sid=account_sid,
        date_created=now,
        date_updated=now,
        **changes,
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


def update_service(account_sid: str, sid: str, form: ServiceForm) -> Service:
    store = dependencies.service_store()
    changed = (
        store.update(account_sid, sid, form.changes(), dependencies.now())
        if is_service_sid(sid)
        else None
    )
    if changed is None:
        raise NotFound(_service_path(sid))
    return changed


def list_services(account_sid: str, query: ListServicesQuery) -> Listing[Service]:
    scope, signed = f"{account_sid}/Services", query.query_pairs()
    cursor = cursor_of(query.page_token, scope, signed)
    page = dependencies.service_store().list_page(
        account_sid, query.friendly_name, cursor, query.page_size
    )
    return listing(page, lambda service: service.sid, cursor, scope, signed)


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


class PurgeRequest(BaseModel):
    account_sid: Annotated[str, StringConstraints(pattern=ACCOUNT_SID_PATTERN)]
    service_sid: Annotated[str, StringConstraints(pattern=SERVICE_SID_PATTERN)]


def request_purge(account_sid: str, service_sid: str) -> None:
    body = PurgeRequest(account_sid=account_sid, service_sid=service_sid).model_dump_json()
    with translated_errors():
        dependencies.sqs().send_message(
            QueueUrl=dependencies.settings().service_purge_queue_url, MessageBody=body
        )


def continue_purge(message: str, time_left: Callable[[], float]) -> None:
    """Work on a purge request; if time runs out first, hand the rest on to a new one."""
    request = PurgeRequest.model_validate_json(message)
    if not purge_service(request.account_sid, request.service_sid, time_left):
        request_purge(request.account_sid, request.service_sid)
        logger.info("Service purge continues", extra={"service_sid": request.service_sid})


def purge_service(account_sid: str, service_sid: str, time_left: Callable[[], float]) -> bool:
    """Purge a deleted Service's bindings while `time_left()` (seconds) allows, then, once
    none remain, the Service itself. True when done; otherwise the caller hands on.

    DynamoDB calls end in time for the hand-over: one that would not (slowed down by
    retries) is not made, and the purge is handed on from where it stopped. So is a purge
    that DynamoDB fails after it purged a page: a long purge in a spell of throttling goes
    on, rather than spend the message's deliveries and end in the dead-letter queue. Only
    when DynamoDB fails before any progress does the message fail, and SQS deliver it again
    later.
    """
    bindings = dependencies.binding_store()
    pages = 0
    with deadline.within(time_left() - _HAND_OVER_SECONDS):
        while time_left() > _PURGE_MARGIN_SECONDS:
            try:
                if bindings.purge_some(service_sid):
                    dependencies.service_store().remove(account_sid, service_sid)
                    logger.info("Service purged", extra={"service_sid": service_sid})
                    return True
            except (Throttled, Unavailable) as error:
                if pages == 0 and not deadline.ran_out(error):
                    raise
                return False  # every page purged so far holds
            pages += 1
    return False


# Enough for one more page of deletes and the hand-over message after the last one.
_PURGE_MARGIN_SECONDS = 20.0
# The hand-over message: one SQS call, however slow (see dependencies._CLIENT_CONFIG).
_HAND_OVER_SECONDS = 10.0


def _service_path(sid: str) -> str:
    return f"/Services/{sid}"
