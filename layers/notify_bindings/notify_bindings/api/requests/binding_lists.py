"""What a client sends to list bindings: the query strings of a Service's list and of a User's.

Apart from the create form (`bindings.py`), so that the list functions do not define it, nor
the create function these.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from notify_bindings.api.requests.fields import (
    ASCII_INTEGER,
    DEFAULT_PAGE_SIZE,
    Address,
    Identity,
    IsoDate,
    Tag,
    clamp_page_size,
    page_needs_token,
    unique,
)
from notify_bindings.domain.bindings import MAX_IDENTITY_FILTERS, MAX_TAG_FILTERS, BindingFilters


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
