"""What a client sends about Credentials: the form that creates one, the form that updates one,
and the list query. Secrets are plain strings here; they are checked (and never echoed) by the
parsers of providers/credentials.py, through dal/credentials.py."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from notify_bindings.api.requests.fields import (
    ASCII_INTEGER,
    DEFAULT_PAGE_SIZE,
    clamp_page_size,
    no_control_characters,
    page_needs_token,
)
from notify_bindings.domain.credentials import (
    MAX_FRIENDLY_NAME_LENGTH,
    CredentialMaterial,
    CredentialType,
)

FriendlyName = Annotated[
    str,
    StringConstraints(max_length=MAX_FRIENDLY_NAME_LENGTH),
    AfterValidator(no_control_characters),
]
# PEM texts and JSON keys are a few kilobytes; a request body is at most 64 KB anyway.
Secret = Annotated[str, StringConstraints(max_length=16_384)]
AppleId = Annotated[str, StringConstraints(max_length=64), AfterValidator(no_control_characters)]
Topic = Annotated[str, StringConstraints(max_length=255), AfterValidator(no_control_characters)]


class CredentialUpdateForm(BaseModel):
    """The form of `POST /v1/Credentials/{Sid}`: every field optional, the Type fixed."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    friendly_name: Annotated[FriendlyName | None, Field(alias="FriendlyName")] = None
    certificate: Annotated[Secret | None, Field(alias="Certificate")] = None
    private_key: Annotated[Secret | None, Field(alias="PrivateKey")] = None
    sandbox: Annotated[bool | None, Field(alias="Sandbox")] = None
    api_key: Annotated[Secret | None, Field(alias="ApiKey")] = None
    secret: Annotated[Secret | None, Field(alias="Secret")] = None
    # Ours: APNs token-based authentication, with a .p8 key in PrivateKey.
    apn_key_id: Annotated[AppleId | None, Field(alias="ApnKeyId")] = None
    apn_team_id: Annotated[AppleId | None, Field(alias="ApnTeamId")] = None
    apn_topic: Annotated[Topic | None, Field(alias="ApnTopic")] = None

    def material(self) -> CredentialMaterial | None:
        """The secret parameters given, or None when the form gives none."""
        given = CredentialMaterial(
            certificate=self.certificate,
            private_key=self.private_key,
            api_key=self.api_key,
            secret=self.secret,
            apn_key_id=self.apn_key_id,
            apn_team_id=self.apn_team_id,
            apn_topic=self.apn_topic,
        )
        return given if given.as_dict() else None


class CredentialForm(CredentialUpdateForm):
    """The form of `POST /v1/Credentials`: Type is required."""

    type: Annotated[CredentialType, Field(alias="Type")]


class ListCredentialsQuery(BaseModel):
    """The query string of `GET /v1/Credentials`: no filters, as in Twilio's."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    page_size: Annotated[
        int, Field(alias="PageSize", ge=1), ASCII_INTEGER, AfterValidator(clamp_page_size)
    ] = DEFAULT_PAGE_SIZE
    page: Annotated[int, Field(alias="Page", ge=0, le=10_000_000), ASCII_INTEGER] = 0
    page_token: Annotated[str | None, Field(alias="PageToken", max_length=1024)] = None

    @model_validator(mode="after")
    def _page_needs_token(self) -> Self:
        page_needs_token(self.page, self.page_token)
        return self

    def filter_pairs(self) -> list[tuple[str, str]]:
        return []
