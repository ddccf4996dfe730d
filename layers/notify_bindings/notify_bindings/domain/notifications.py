"""Notifications: what a create asks to send, the recipients it resolves to, the batches that
carry them between the stages of sending, and what became of each delivery.

The stages (see docs/architecture.md): the create function stores the `Notification` and puts
one `ResolutionTask` on the resolve queue; the resolving function reads the recipients from the
binding indexes and puts `DeliveryBatch`es on the delivery queue; the delivering function sends
each batch's recipients through their channel and records a `Delivery` per recipient, counted
on the notification and reported to its delivery callback.

Plain dataclasses, with no pydantic and no botocore: the delivering function validates nothing a
client sends. What a client may send is declared in `api/requests/notifications.py`, Twilio's
JSON in `api/responses/notifications.py`, the items in `dal/notifications.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from notify_bindings.domain.bindings import BindingType

MAX_IDENTITIES = 20
MAX_TAGS = 5
MAX_TTL_SECONDS = 2_419_200  # four weeks, Twilio's limit and its default
# Recipients per delivery batch, at most (Settings.delivery_batch_size may ask fewer): one SQS
# message, one claim and one transaction recording its progress and counts each, so that a
# notification's writes grow with its batches, not its recipients (docs/architecture.md).
DELIVERY_BATCH_SIZE = 1000
# A batch's message, at most: SQS takes 256 KiB a message (262,144 bytes, its attributes
# included) and 256 KiB a SendMessageBatch call. 1,000 APNs tokens make some 150 KB; FCM's
# longer tokens cut a batch by bytes before it reaches 1,000.
DELIVERY_BATCH_BYTES = 240_000
# Deliveries per delivery callback, as Twilio reported them.
MAX_DELIVERIES_PER_CALLBACK = 1_000


class Priority(StrEnum):
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class Notification:
    """A stored notification: what was asked, as Twilio's JSON echoes it. The per-channel
    overrides and `data` are the parsed JSON objects the client sent (None when not given)."""

    sid: str
    account_sid: str
    service_sid: str
    date_created: datetime
    identities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # Deprecated by Twilio: accepted and echoed, matched by nothing (docs/api.md).
    segments: tuple[str, ...] = ()
    # Direct recipients (`ToBinding`), each {"binding_type": ..., "address": ...}; never echoed.
    to_bindings: tuple[DirectAddress, ...] = ()
    priority: Priority = Priority.HIGH
    ttl: int = MAX_TTL_SECONDS
    title: str | None = None
    body: str | None = None
    sound: str | None = None
    action: str | None = None
    data: dict[str, Any] | None = None
    apn: dict[str, Any] | None = None
    fcm: dict[str, Any] | None = None
    gcm: dict[str, Any] | None = None
    sms: dict[str, Any] | None = None
    facebook_messenger: dict[str, Any] | None = None
    alexa: dict[str, Any] | None = None
    delivery_callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class DirectAddress:
    """One `ToBinding` item: an address to send to that no stored binding needs to hold."""

    binding_type: BindingType
    address: str


@dataclass(frozen=True, slots=True)
class Recipient:
    """One delivery to make: a binding (or a direct address, with no `binding_sid`) and the
    credential it is sent with - the binding's own, else the Service's for its type (None:
    neither has one, and the delivery fails with 52004)."""

    binding_type: BindingType
    address: str
    binding_sid: str | None = None
    credential_sid: str | None = None
    notification_protocol_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.binding_type.value,
            "a": self.address,
            "b": self.binding_sid,
            "c": self.credential_sid,
            "v": self.notification_protocol_version,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Recipient:
        return cls(BindingType(value["t"]), value["a"], value["b"], value["c"], value["v"])


@dataclass(frozen=True, slots=True)
class ResolutionTask:
    """The message of the resolve queue: find this notification's recipients."""

    account_sid: str
    service_sid: str
    notification_sid: str
    # A continuation: resolve from after this binding SID (the last one the previous
    # resolving function queued), numbering batches from `next_sequence`.
    after: str | None = None
    next_sequence: int = 0

    def to_message(self) -> str:
        value: dict[str, Any] = {
            "account": self.account_sid,
            "service": self.service_sid,
            "sid": self.notification_sid,
        }
        if self.after is not None or self.next_sequence:
            value["after"] = self.after
            value["seq"] = self.next_sequence
        return json.dumps(value)

    @classmethod
    def from_message(cls, body: str) -> ResolutionTask:
        value = json.loads(body)
        return cls(
            value["account"],
            value["service"],
            value["sid"],
            value.get("after"),
            int(value.get("seq", 0)),
        )


@dataclass(frozen=True, slots=True)
class DeliveryBatch:
    """The message of the delivery queue: up to DELIVERY_BATCH_SIZE recipients (grouped by
    channel), in a message of at most DELIVERY_BATCH_BYTES.
    `sequence` numbers the batches of a notification from 0; (notification, sequence) is the
    key of its progress record, so a redelivered message is recognised."""

    account_sid: str
    service_sid: str
    notification_sid: str
    sequence: int
    recipients: tuple[Recipient, ...]

    def to_message(self) -> str:
        return json.dumps(
            {
                "account": self.account_sid,
                "service": self.service_sid,
                "sid": self.notification_sid,
                "seq": self.sequence,
                "to": [recipient.to_json() for recipient in self.recipients],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, body: str) -> DeliveryBatch:
        value = json.loads(body)
        return cls(
            value["account"],
            value["service"],
            value["sid"],
            int(value["seq"]),
            tuple(Recipient.from_json(item) for item in value["to"]),
        )


class DeliveryStatus(StrEnum):
    SENT = "SENT"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one recipient: its DeliveryState in a callback (never the address)."""

    recipient: Recipient
    status: DeliveryStatus
    provider_id: str | None = None  # APNs apns-id, FCM message name, Twilio Message SID
    error_code: int | None = None
    error_message: str | None = None
    # The provider reported the address dead (APNs Unregistered, BadDeviceToken,
    # DeviceTokenNotForTopic; FCM UNREGISTERED; Twilio 21211, 21614) ...
    dead_address: bool = False
    # ... and the binding was removed for it (conditioned on it still being that binding).
    binding_removed: bool = False


@dataclass(frozen=True, slots=True)
class OpenedCredential:
    """A Credential as a delivery uses it: its material, unsealed and parsed for the
    providers' clients (providers/credentials.py), and whether APNs deliveries made with it go
    to Apple's sandbox (the Credential's `sandbox`)."""

    material: object
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """A notification's `deliveries`, ours: exact once `pending` is 0 and `resolved` is true."""

    total: int = 0
    sent: int = 0
    failed: int = 0
    dead_bindings_removed: int = 0
    resolved: bool = False  # every recipient is known (total is final)

    @property
    def pending(self) -> int:
        return self.total - self.sent - self.failed
