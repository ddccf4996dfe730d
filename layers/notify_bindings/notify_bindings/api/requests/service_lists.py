"""What a client sends to list Services: the query string.

Apart from the Service form (`services.py`), so that the list function does not define the
form's model, nor the create and update functions this one.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from notify_bindings.api.requests.fields import (
    ASCII_INTEGER,
    DEFAULT_PAGE_SIZE,
    FriendlyName,
    clamp_page_size,
    page_needs_token,
)


class ListServicesQuery(BaseModel):
    """The query string of `GET /v1/Services`."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    friendly_name: Annotated[FriendlyName | None, Field(alias="FriendlyName")] = None
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
        """The filter as the query string spells it."""
        return [("FriendlyName", self.friendly_name)] if self.friendly_name else []
