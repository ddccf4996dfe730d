"""What a client sends to create a binding: the form.

Apart from the other resources', and from the list queries (`binding_lists.py`), so that only
the function that creates bindings defines it: a model's class costs a cold start even when its
build is deferred.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from notify_bindings.api.requests.fields import (
    Address,
    CredentialSid,
    Identity,
    ProtocolVersion,
    Tag,
    no_control_characters,
    unique,
)
from notify_bindings.domain.bindings import (
    MAX_TAGS_PER_BINDING,
    RESERVED_TAGS,
    BindingType,
    Registration,
)

_E164 = re.compile(r"\+[0-9]{2,15}")
_MESSENGER_ID = re.compile(r"[0-9]{1,64}")
_WHITESPACE = re.compile(r"\s")


def _no_reserved_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    """Every binding has the implicit tags, `all` and its type: a binding tagged `sms`
    explicitly would be selected by `Tag=sms`, whatever its type. Filters take them."""
    reserved = sorted(RESERVED_TAGS.intersection(tags))
    if reserved:
        raise ValueError(
            f"'{reserved[0]}' is reserved: `all` and the binding types are implicit tags"
        )
    return tags


class CreateBindingForm(BaseModel):
    """The form body of `POST /v1/Services/{ServiceSid}/Bindings`."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    identity: Annotated[Identity, Field(alias="Identity")]
    binding_type: Annotated[BindingType, Field(alias="BindingType")]
    address: Annotated[Address, Field(alias="Address")]
    tags: Annotated[
        tuple[Tag, ...],
        Field(alias="Tag", max_length=MAX_TAGS_PER_BINDING),
        BeforeValidator(unique),
        AfterValidator(_no_reserved_tags),
    ] = ()
    notification_protocol_version: Annotated[
        ProtocolVersion | None, Field(alias="NotificationProtocolVersion")
    ] = None
    credential_sid: Annotated[CredentialSid | None, Field(alias="CredentialSid")] = None
    # Deprecated by Twilio: accepted so old clients keep working, then ignored.
    endpoint: Annotated[
        Annotated[str, AfterValidator(no_control_characters)] | None, Field(alias="Endpoint")
    ] = None

    @field_validator("address")
    @classmethod
    def _address_fits_binding_type(cls, address: str, info: ValidationInfo) -> str:
        kind = info.data.get("binding_type")  # absent when BindingType itself was invalid
        if kind is BindingType.SMS and not _E164.fullmatch(address):
            raise ValueError("must be an E.164 phone number (+ and 2-15 digits) for sms")
        if kind is BindingType.FACEBOOK_MESSENGER and not (
            _E164.fullmatch(address) or _MESSENGER_ID.fullmatch(address)
        ):
            raise ValueError("must be an E.164 phone number or a numeric Messenger id")
        if kind is not None and kind.is_push and _WHITESPACE.search(address):
            raise ValueError(f"must not contain whitespace for {kind.value}")
        return address

    def registration(self) -> Registration:
        """What the form asks to create (its deprecated Endpoint is ignored)."""
        return Registration(
            identity=self.identity,
            binding_type=self.binding_type,
            address=self.address,
            tags=self.tags,
            notification_protocol_version=self.notification_protocol_version,
            credential_sid=self.credential_sid,
        )
