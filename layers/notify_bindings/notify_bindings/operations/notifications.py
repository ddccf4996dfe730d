"""Notifications: create (stored, and its resolution queued: 201 at once; delivery follows
asynchronously, docs/architecture.md) and fetch (ours, with its deliveries)."""

from __future__ import annotations

from notify_bindings import dependencies
from notify_bindings.domain.notifications import DeliveryCounts, Notification, ResolutionTask
from notify_bindings.platform.errors import NotFound
from notify_bindings.platform.observability import count, logger
from notify_bindings.platform.sids import is_service_sid, time_ordered_sid


def new_notification_sid() -> str:
    return time_ordered_sid("NT", dependencies.now())


def create_notification(notification: Notification) -> Notification:
    """Store `notification` and queue its resolution. 404 for a Service not the account's."""
    service = (
        dependencies.service_store().get(notification.account_sid, notification.service_sid)
        if is_service_sid(notification.service_sid)
        else None
    )
    if service is None:
        raise NotFound(f"/Services/{notification.service_sid}/Notifications")
    store = dependencies.notification_store()
    store.create(notification)
    task = ResolutionTask(notification.account_sid, notification.service_sid, notification.sid)
    try:
        dependencies.sqs().send_message(
            QueueUrl=_resolve_queue_url(), MessageBody=task.to_message()
        )
    except Exception:
        # Nothing half-written: without its resolution queued, the notification is not kept.
        store.delete(notification.account_sid, notification.sid)
        raise
    count("NotificationsCreated")
    logger.info(
        "Notification created",
        extra={"service_sid": notification.service_sid, "notification_sid": notification.sid},
    )
    return notification


def fetch_notification(
    account_sid: str, service_sid: str, sid: str
) -> tuple[Notification, DeliveryCounts]:
    found = (
        dependencies.notification_store().get(account_sid, service_sid, sid)
        if sid.startswith("NT") and is_service_sid(service_sid)
        else None
    )
    if found is None:
        raise NotFound(f"/Services/{service_sid}/Notifications/{sid}")
    return found


def _resolve_queue_url() -> str:
    url = dependencies.settings().resolve_queue_url
    if url is None:
        raise RuntimeError("RESOLVE_QUEUE_URL is not set")
    return url
