"""What a client sends to create or update a Service: the form.

Apart from the stored Service (`domain/services.py`, which every binding function reads), and
from the list's query (`service_lists.py`), so that only the functions that validate the form
define it: a model's class costs a cold start even when its build is deferred.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from notify_bindings.api.requests.fields import (
    ASCII_INTEGER,
    CredentialSid,
    FriendlyName,
    ProtocolVersion,
    no_control_characters,
)
from notify_bindings.domain.bindings import IdentityBindingLimitPolicy
from notify_bindings.domain.services import MAX_BINDING_TTL_DAYS


def _empty_is_none(value: object) -> object:
    """Twilio's clients cannot send a null: an empty value clears a setting."""
    return None if value == "" else value


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http or https URL")
    return value


MessagingServiceSid = Annotated[str, StringConstraints(pattern=r"^MG[0-9a-fA-F]{32}$")]
LegacyId = Annotated[str, StringConstraints(max_length=256), AfterValidator(no_control_characters)]
CallbackUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(no_control_characters),
    AfterValidator(_http_url),
]
BindingTtlDays = Annotated[int, Field(ge=1, le=MAX_BINDING_TTL_DAYS), ASCII_INTEGER]

T = TypeVar("T")
Setting = Annotated[T | None, BeforeValidator(_empty_is_none)]


class ServiceForm(BaseModel):
    """The form of `POST /v1/Services` and `POST /v1/Services/{Sid}`: every field optional.
    On update only the fields given change."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    friendly_name: Annotated[Setting[FriendlyName], Field(alias="FriendlyName")] = None
    apn_credential_sid: Annotated[Setting[CredentialSid], Field(alias="ApnCredentialSid")] = None
    gcm_credential_sid: Annotated[Setting[CredentialSid], Field(alias="GcmCredentialSid")] = None
    fcm_credential_sid: Annotated[Setting[CredentialSid], Field(alias="FcmCredentialSid")] = None
    messaging_service_sid: Annotated[
        Setting[MessagingServiceSid], Field(alias="MessagingServiceSid")
    ] = None
    facebook_messenger_page_id: Annotated[
        Setting[LegacyId], Field(alias="FacebookMessengerPageId")
    ] = None
    default_apn_notification_protocol_version: Annotated[
        Setting[ProtocolVersion], Field(alias="DefaultApnNotificationProtocolVersion")
    ] = None
    default_gcm_notification_protocol_version: Annotated[
        Setting[ProtocolVersion], Field(alias="DefaultGcmNotificationProtocolVersion")
    ] = None
    default_fcm_notification_protocol_version: Annotated[
        Setting[ProtocolVersion], Field(alias="DefaultFcmNotificationProtocolVersion")
    ] = None
    log_enabled: Annotated[Setting[bool], Field(alias="LogEnabled")] = None
    alexa_skill_id: Annotated[Setting[LegacyId], Field(alias="AlexaSkillId")] = None
    default_alexa_notification_protocol_version: Annotated[
        Setting[ProtocolVersion], Field(alias="DefaultAlexaNotificationProtocolVersion")
    ] = None
    delivery_callback_url: Annotated[Setting[CallbackUrl], Field(alias="DeliveryCallbackUrl")] = (
        None
    )
    delivery_callback_enabled: Annotated[Setting[bool], Field(alias="DeliveryCallbackEnabled")] = (
        None
    )
    # Ours, not Twilio's: what the 21st binding of an identity does (reject, or evict_oldest).
    identity_binding_limit_policy: Annotated[
        Setting[IdentityBindingLimitPolicy], Field(alias="IdentityBindingLimitPolicy")
    ] = None
    # Ours too: a binding not created again within this many days expires (DynamoDB TTL).
    binding_ttl_days: Annotated[Setting[BindingTtlDays], Field(alias="BindingTtlDays")] = None
    # Ours: the sms Credential (Twilio Messaging) of the Service's sms bindings.
    sms_credential_sid: Annotated[Setting[CredentialSid], Field(alias="SmsCredentialSid")] = None

    def changes(self) -> dict[str, Any]:
        """The settings this form gives, by their names in `Service`; None clears one."""
        return {name: getattr(self, name) for name in self.model_fields_set}
