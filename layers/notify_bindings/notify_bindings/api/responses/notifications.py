"""Twilio's JSON for a Notification: exactly Twilio's fields on create; on fetch (ours) the
same plus `deliveries`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from notify_bindings.api.responses.pages import TWILIO_DATE
from notify_bindings.domain.notifications import DeliveryCounts, Notification


class NotificationResource(BaseModel):
    """A Notification as Twilio's create answers it."""

    model_config = ConfigDict(defer_build=True)

    sid: str
    account_sid: str
    service_sid: str
    date_created: str
    identities: list[str]
    tags: list[str]
    segments: list[str]
    priority: str
    ttl: int
    title: str | None
    body: str | None
    sound: str | None
    action: str | None
    data: dict[str, Any] | None
    apn: dict[str, Any] | None
    gcm: dict[str, Any] | None
    fcm: dict[str, Any] | None
    sms: dict[str, Any] | None
    facebook_messenger: dict[str, Any] | None
    alexa: dict[str, Any] | None

    @classmethod
    def of(cls, notification: Notification) -> NotificationResource:
        return cls(
            sid=notification.sid,
            account_sid=notification.account_sid,
            service_sid=notification.service_sid,
            date_created=notification.date_created.strftime(TWILIO_DATE),
            identities=list(notification.identities),
            tags=list(notification.tags),
            segments=list(notification.segments),
            priority=notification.priority.value,
            ttl=notification.ttl,
            title=notification.title,
            body=notification.body,
            sound=notification.sound,
            action=notification.action,
            data=notification.data,
            apn=notification.apn,
            gcm=notification.gcm,
            fcm=notification.fcm,
            sms=notification.sms,
            facebook_messenger=notification.facebook_messenger,
            alexa=notification.alexa,
        )


class Deliveries(BaseModel):
    """(ours) What became of the notification's deliveries. `pending` is null until every
    recipient is known (resolution still running); the counts are exact once it is 0."""

    model_config = ConfigDict(defer_build=True)

    total: int
    sent: int
    failed: int
    pending: int | None
    dead_bindings_removed: int

    @classmethod
    def of(cls, counts: DeliveryCounts) -> Deliveries:
        return cls(
            total=counts.total,
            sent=counts.sent,
            failed=counts.failed,
            pending=counts.pending if counts.resolved else None,
            dead_bindings_removed=counts.dead_bindings_removed,
        )


class FetchedNotificationResource(NotificationResource):
    """(ours) `GET .../Notifications/{Sid}`: Twilio's JSON and `deliveries`."""

    deliveries: Deliveries

    @classmethod
    def fetched(
        cls, notification: Notification, counts: DeliveryCounts
    ) -> FetchedNotificationResource:
        return cls(
            **NotificationResource.of(notification).model_dump(),
            deliveries=Deliveries.of(counts),
        )
