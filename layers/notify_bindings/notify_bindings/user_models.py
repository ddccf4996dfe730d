"""The Users resource (ours: Twilio removed it, yet its Binding JSON still links to it):
an identity of a Service, seen through its bindings, in the shape Notify's User resource had.

A User is not stored on its own: it is its identity record (store.py), and it exists while
the identity has bindings. So its dates are its bindings' - `date_created` the creation of its
oldest binding, `date_updated` of its newest (a binding is never updated: a replace is a new
binding) - and its SID is derived from the Service and the identity, the same every time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import quote, unquote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from notify_bindings.models import (
    DEFAULT_PAGE_SIZE,
    TWILIO_DATE,
    Binding,
    Identity,
    PageMeta,
    clamp_page_size,
)

USER_SID_PREFIX = "US"
# A key token holds an identity of up to 256 characters of up to 4 bytes each, base64.
MAX_USERS_PAGE_TOKEN = 2048


@dataclass(frozen=True, slots=True)
class User:
    account_sid: str
    service_sid: str
    identity: str
    bindings: tuple[Binding, ...]  # at least one, in creation order

    @property
    def sid(self) -> str:
        return user_sid(self.service_sid, self.identity)

    @property
    def date_created(self) -> datetime:
        return self.bindings[0].date_created

    @property
    def date_updated(self) -> datetime:
        return self.bindings[-1].date_created


def user_sid(service_sid: str, identity: str) -> str:
    """`US` and 32 hex digits, derived from the Service and the identity: stable for as long
    as the identity is used, and naming the User in logs without naming the identity."""
    digest = hashlib.sha256(f"{service_sid}/{identity}".encode()).hexdigest()
    return USER_SID_PREFIX + digest[:32]


class _IdentityInPath(BaseModel):
    identity: Identity


def identity_from_path(segment: str) -> str | None:
    """The identity a path segment names (percent-encoded, as `links.user` writes it); None
    when it names none an identity can be - like a malformed SID, that is a 404."""
    try:
        identity = unquote(segment, errors="strict")
        return _IdentityInPath(identity=identity).identity
    except (UnicodeDecodeError, ValidationError):
        return None


def user_path(service_sid: str, identity: str) -> str:
    return f"/v1/Services/{service_sid}/Users/{quote(identity, safe='')}"


class ListUsersQuery(BaseModel):
    """The query string of `GET /v1/Services/{ServiceSid}/Users`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    page_size: Annotated[int, Field(alias="PageSize", ge=1), AfterValidator(clamp_page_size)] = (
        DEFAULT_PAGE_SIZE
    )
    page: Annotated[int, Field(alias="Page", ge=0, le=10_000_000)] = 0
    page_token: Annotated[str | None, Field(alias="PageToken", max_length=MAX_USERS_PAGE_TOKEN)] = (
        None
    )


class UserLinks(BaseModel):
    bindings: str
    segment_memberships: str


class UserResource(BaseModel):
    """A User as Notify's JSON had it, and `binding_count` (ours)."""

    sid: str
    account_sid: str
    service_sid: str
    identity: str
    date_created: str
    date_updated: str
    segments: list[str]
    binding_count: int
    url: str
    links: UserLinks

    @classmethod
    def of(cls, user: User, base_url: str) -> UserResource:
        url = base_url + user_path(user.service_sid, user.identity)
        return cls(
            sid=user.sid,
            account_sid=user.account_sid,
            service_sid=user.service_sid,
            identity=user.identity,
            date_created=user.date_created.strftime(TWILIO_DATE),
            date_updated=user.date_updated.strftime(TWILIO_DATE),
            segments=[],  # Segments are not served
            binding_count=len(user.bindings),
            url=url,
            links=UserLinks(
                bindings=f"{url}/Bindings", segment_memberships=f"{url}/SegmentMemberships"
            ),
        )


class UserPageResource(BaseModel):
    users: list[UserResource]
    meta: PageMeta

    @classmethod
    def of(
        cls,
        users: list[User],
        *,
        base_url: str,
        service_sid: str,
        query: ListUsersQuery,
        next_page_token: str | None,
        previous_page_token: str | None,
    ) -> UserPageResource:
        return cls(
            users=[UserResource.of(user, base_url) for user in users],
            meta=PageMeta.of(
                f"{base_url}/v1/Services/{service_sid}/Users",
                "users",
                filters=[],
                page_size=query.page_size,
                page=query.page,
                page_token=query.page_token,
                next_page_token=next_page_token,
                previous_page_token=previous_page_token,
            ),
        )
