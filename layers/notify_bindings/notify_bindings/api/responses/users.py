"""Twilio's JSON for Users (ours): one User, as Notify's User resource had it, and a page of
them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from notify_bindings.api.responses.pages import TWILIO_DATE, PageLinks, PageMeta
from notify_bindings.domain.users import User, user_path


class UserLinks(BaseModel):
    model_config = ConfigDict(defer_build=True)

    bindings: str
    segment_memberships: str


class UserResource(BaseModel):
    """A User as Notify's JSON had it, and `binding_count` (ours)."""

    model_config = ConfigDict(defer_build=True)

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
    model_config = ConfigDict(defer_build=True)

    users: list[UserResource]
    meta: PageMeta

    @classmethod
    def of(
        cls, users: list[User], *, base_url: str, service_sid: str, links: PageLinks
    ) -> UserPageResource:
        return cls(
            users=[UserResource.of(user, base_url) for user in users],
            meta=PageMeta.of(f"{base_url}/v1/Services/{service_sid}/Users", "users", links),
        )
