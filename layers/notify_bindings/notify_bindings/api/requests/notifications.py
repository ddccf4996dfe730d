"""What a client sends to create a Notification: `POST /v1/Services/{ServiceSid}/Notifications`,
every parameter of Twilio's, with its limits.

Recipients: `Identity` (at most 20; any of them), `Tag` (at most 5; all of them, the implicit
tags included), both together (the bindings matching both), or `ToBinding` (direct addresses,
each a JSON object {"binding_type", "address"}), which is refused beside `Identity`, `Tag` or
`Segment`. A create that names no recipient at all is refused with 400/20001 (Twilio's answer
is UNCONFIRMED; docs/api.md, decisions).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from notify_bindings.api.requests.fields import Identity, Tag, no_control_characters, unique
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import (
    MAX_IDENTITIES,
    MAX_TAGS,
    MAX_TTL_SECONDS,
    DirectAddress,
    Notification,
    Priority,
)

MAX_TO_BINDINGS = 1000  # ours: Twilio bounds only the request (1 MB); an item holds 400 KB
MAX_JSON_CHARACTERS = 4096  # a push payload is at most 4 KB
_RESERVED_PREFIX = "twi_"
# FCM fields the sender sets itself: an override may not send the message elsewhere.
_FCM_REFUSED = ("to", "registration_ids", "condition", "notification_key")
_WHITESPACE = re.compile(r"\s")
_E164 = re.compile(r"\+[0-9]{2,15}")


def _json_object(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        raise ValueError("must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise ValueError("must be a JSON object")
    return parsed


def _no_reserved_keys(value: dict[str, Any]) -> dict[str, Any]:
    reserved = [key for key in value if key.startswith(_RESERVED_PREFIX)]
    if reserved:
        raise ValueError(f"must not have keys beginning {_RESERVED_PREFIX} ({reserved[0]})")
    return value


def _not_addressed(value: dict[str, Any]) -> dict[str, Any]:
    for key in _FCM_REFUSED:
        if key in value:
            raise ValueError(f"must not set '{key}': the binding's address is the recipient")
    return value


def _to_binding(value: object) -> object:
    parsed = _json_object(value)
    if not isinstance(parsed, dict):
        return parsed
    kind = parsed.get("binding_type")
    address = parsed.get("address")
    if set(parsed) - {"binding_type", "address"}:
        raise ValueError("must have only binding_type and address")
    try:
        binding_type = BindingType(str(kind))
    except ValueError:
        raise ValueError("must have a binding_type of the binding types") from None
    if not isinstance(address, str) or not 1 <= len(address) <= 512:
        raise ValueError("must have an address of 1 to 512 characters")
    no_control_characters(address)
    if binding_type is BindingType.SMS and not _E164.fullmatch(address):
        raise ValueError("must have an E.164 phone number as the address of sms")
    if binding_type.is_push and _WHITESPACE.search(address):
        raise ValueError(f"must have an address without whitespace for {binding_type.value}")
    return DirectAddress(binding_type, address)


def _sized(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":"))) > MAX_JSON_CHARACTERS:
        raise ValueError(f"must be at most {MAX_JSON_CHARACTERS} characters of JSON")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http or https URL")
    return value


JsonObject = Annotated[
    dict[str, Any],
    BeforeValidator(_json_object),
    AfterValidator(_sized),
    AfterValidator(_no_reserved_keys),
]
FcmObject = Annotated[JsonObject, AfterValidator(_not_addressed)]
Text = Annotated[str, StringConstraints(max_length=1600), AfterValidator(no_control_characters)]
Body = Annotated[str, StringConstraints(max_length=1600)]  # new lines are allowed in a body
CallbackUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(no_control_characters),
    AfterValidator(_http_url),
]
ToBinding = Annotated[DirectAddress, BeforeValidator(_to_binding)]


class CreateNotificationForm(BaseModel):
    """The form body of `POST /v1/Services/{ServiceSid}/Notifications`."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", arbitrary_types_allowed=True, defer_build=True
    )

    identities: Annotated[
        tuple[Identity, ...],
        Field(alias="Identity", max_length=MAX_IDENTITIES),
        BeforeValidator(unique),
    ] = ()
    tags: Annotated[
        tuple[Tag, ...], Field(alias="Tag", max_length=MAX_TAGS), BeforeValidator(unique)
    ] = ()
    to_bindings: Annotated[
        tuple[ToBinding, ...], Field(alias="ToBinding", max_length=MAX_TO_BINDINGS)
    ] = ()
    # Deprecated by Twilio (segments of a Service's users): accepted, matched by nothing.
    segments: Annotated[tuple[Tag, ...], Field(alias="Segment", max_length=MAX_TAGS)] = ()
    body: Annotated[Body | None, Field(alias="Body")] = None
    title: Annotated[Text | None, Field(alias="Title")] = None
    sound: Annotated[Text | None, Field(alias="Sound")] = None
    action: Annotated[Text | None, Field(alias="Action")] = None
    data: Annotated[JsonObject | None, Field(alias="Data")] = None
    priority: Annotated[Priority, Field(alias="Priority")] = Priority.HIGH
    ttl: Annotated[int, Field(alias="Ttl", ge=0, le=MAX_TTL_SECONDS, strict=False)] = (
        MAX_TTL_SECONDS
    )
    apn: Annotated[JsonObject | None, Field(alias="Apn")] = None
    fcm: Annotated[FcmObject | None, Field(alias="Fcm")] = None
    gcm: Annotated[FcmObject | None, Field(alias="Gcm")] = None
    sms: Annotated[JsonObject | None, Field(alias="Sms")] = None
    facebook_messenger: Annotated[JsonObject | None, Field(alias="FacebookMessenger")] = None
    alexa: Annotated[JsonObject | None, Field(alias="Alexa")] = None
    delivery_callback_url: Annotated[CallbackUrl | None, Field(alias="DeliveryCallbackUrl")] = None

    @model_validator(mode="after")
    def _recipients(self) -> CreateNotificationForm:
        if self.to_bindings and (self.identities or self.tags or self.segments):
            raise ValueError(
                "Parameter 'ToBinding' cannot be combined with Identity, Tag or Segment"
            )
        if not (self.to_bindings or self.identities or self.tags or self.segments):
            raise ValueError(
                "One of the parameters 'Identity', 'Tag', 'ToBinding' or 'Segment' is required"
            )
        return self

    def notification(
        self, sid: str, account_sid: str, service_sid: str, date_created: datetime
    ) -> Notification:
        return Notification(
            sid=sid,
            account_sid=account_sid,
            service_sid=service_sid,
            date_created=date_created,
            identities=self.identities,
            tags=self.tags,
            segments=self.segments,
            to_bindings=self.to_bindings,
            priority=self.priority,
            ttl=self.ttl,
            title=self.title,
            body=self.body,
            sound=self.sound,
            action=self.action,
            data=self.data,
            apn=self.apn,
            fcm=self.fcm,
            gcm=self.gcm,
            sms=self.sms,
            facebook_messenger=self.facebook_messenger,
            alexa=self.alexa,
            delivery_callback_url=self.delivery_callback_url,
        )
