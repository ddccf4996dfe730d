"""What a client sends about bindings: the create form and the list queries.

Apart from the other resources' so that only the functions that read one build them: pydantic
builds a model's validator when its class is defined, a cost of every cold start that loads it.
"""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from notify_bindings.api.requests.fields import (
    ASCII_INTEGER,
    DEFAULT_PAGE_SIZE,
    Address,
    CredentialSid,
    Identity,
    IsoDate,
    ProtocolVersion,
    Tag,
    clamp_page_size,
    no_control_characters,
    page_needs_token,
    unique,
)
from notify_bindings.domain.bindings import (
    MAX_IDENTITY_FILTERS,
    MAX_TAG_FILTERS,
    MAX_TAGS_PER_BINDING,
    RESERVED_TAGS,
    BindingFilters,
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


class ListBindingsQuery(BaseModel):
    """The query string of `GET /v1/Services/{ServiceSid}/Bindings`."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    start_date: Annotated[IsoDate | None, Field(alias="StartDate")] = None
    end_date: Annotated[IsoDate | None, Field(alias="EndDate")] = None
    identities: Annotated[
        tuple[Identity, ...],
        Field(alias="Identity", max_length=MAX_IDENTITY_FILTERS),
        BeforeValidator(unique),
    ] = ()
    tags: Annotated[
        tuple[Tag, ...], Field(alias="Tag", max_length=MAX_TAG_FILTERS), BeforeValidator(unique)
    ] = ()
    page_size: Annotated[
        int, Field(alias="PageSize", ge=1), ASCII_INTEGER, AfterValidator(clamp_page_size)
    ] = DEFAULT_PAGE_SIZE
    page: Annotated[int, Field(alias="Page", ge=0, le=10_000_000), ASCII_INTEGER] = 0
    page_token: Annotated[str | None, Field(alias="PageToken", max_length=1024)] = None
    # Ours, not Twilio's: the binding at this address (the address is the table's key).
    address: Annotated[Address | None, Field(alias="Address")] = None

    @model_validator(mode="after")
    def _page_needs_token(self) -> Self:
        page_needs_token(self.page, self.page_token)
        return self

    def filters(self) -> BindingFilters:
        return BindingFilters(
            identities=self.identities,
            tags=self.tags,
            start_date=self.start_date,
            end_date=self.end_date,
            address=self.address,
        )

    def filter_pairs(self) -> list[tuple[str, str]]:
        """The filters as Twilio spells them in a query string, in a stable order."""
        return pairs_of(self.filters())


class ListUserBindingsQuery(BaseModel):
    """The query string of `GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings`: the
    Bindings list's, without `Identity` (the path names it)."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    start_date: Annotated[IsoDate | None, Field(alias="StartDate")] = None
    end_date: Annotated[IsoDate | None, Field(alias="EndDate")] = None
    tags: Annotated[
        tuple[Tag, ...], Field(alias="Tag", max_length=MAX_TAG_FILTERS), BeforeValidator(unique)
    ] = ()
    page_size: Annotated[
        int, Field(alias="PageSize", ge=1), ASCII_INTEGER, AfterValidator(clamp_page_size)
    ] = DEFAULT_PAGE_SIZE
    page: Annotated[int, Field(alias="Page", ge=0, le=10_000_000), ASCII_INTEGER] = 0
    page_token: Annotated[str | None, Field(alias="PageToken", max_length=1024)] = None
    address: Annotated[Address | None, Field(alias="Address")] = None

    @model_validator(mode="after")
    def _page_needs_token(self) -> Self:
        page_needs_token(self.page, self.page_token)
        return self

    def filters(self, identity: str) -> BindingFilters:
        return BindingFilters(
            identities=(identity,),
            tags=self.tags,
            start_date=self.start_date,
            end_date=self.end_date,
            address=self.address,
        )

    def filter_pairs(self) -> list[tuple[str, str]]:
        """The filters as the query string spells them (the identity is in the path)."""
        return [pair for pair in pairs_of(self.filters("")) if pair[0] != "Identity"]


def pairs_of(filters: BindingFilters) -> list[tuple[str, str]]:
    """`filters` as Twilio spells them in a query string, in a stable order: what a list's
    page URLs repeat, and what its page tokens are signed for."""
    pairs: list[tuple[str, str]] = []
    if filters.start_date:
        pairs.append(("StartDate", filters.start_date.isoformat()))
    if filters.end_date:
        pairs.append(("EndDate", filters.end_date.isoformat()))
    pairs += [("Identity", identity) for identity in filters.identities]
    pairs += [("Tag", tag) for tag in filters.tags]
    if filters.address is not None:
        pairs.append(("Address", filters.address))
    return pairs
