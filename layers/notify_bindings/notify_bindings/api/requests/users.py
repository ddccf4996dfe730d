"""What a client sends about Users (ours: Twilio removed the resource, yet its Binding JSON still
links to it): the identity its path names, and the list query."""

from __future__ import annotations

from typing import Annotated, Self
from urllib.parse import unquote

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from notify_bindings.api.requests.fields import (
    ASCII_INTEGER,
    DEFAULT_PAGE_SIZE,
    Identity,
    clamp_page_size,
    page_needs_token,
)

# A key token holds an identity of up to 256 characters of up to 4 bytes each, base64.
MAX_USERS_PAGE_TOKEN = 2048


def _percent_decoded(segment: object) -> object:
    """A path segment as `links.user` writes it: the identity percent-encoded (strictly UTF-8,
    so that no two segments name one identity by accident)."""
    return unquote(segment, errors="strict") if isinstance(segment, str) else segment


class UserPath(BaseModel):
    """The path parameters of `/v1/Services/{ServiceSid}/Users/{Identity}` and the routes under
    it. A segment that names no identity a binding can have is a 404, like a malformed SID."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    identity: Annotated[Identity, BeforeValidator(_percent_decoded), Field(alias="Identity")]


class ListUsersQuery(BaseModel):
    """The query string of `GET /v1/Services/{ServiceSid}/Users`."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    page_size: Annotated[
        int, Field(alias="PageSize", ge=1), ASCII_INTEGER, AfterValidator(clamp_page_size)
    ] = DEFAULT_PAGE_SIZE
    page: Annotated[int, Field(alias="Page", ge=0, le=10_000_000), ASCII_INTEGER] = 0
    page_token: Annotated[str | None, Field(alias="PageToken", max_length=MAX_USERS_PAGE_TOKEN)] = (
        None
    )

    @model_validator(mode="after")
    def _page_needs_token(self) -> Self:
        page_needs_token(self.page, self.page_token)
        return self

    def filter_pairs(self) -> list[tuple[str, str]]:
        """The list has no filters: its URLs and tokens carry none."""
        return []
