"""Bindings: the limits and field types of what a request may carry, the stored Binding, and
what a response says, declared once.

Input limits (design.md, "limits" and "address formats") live here as pydantic constraints;
the forms that use them are in `binding_forms.py` (loaded only by the functions that read
them), and the form adapter in `http.py` only turns Twilio's repeated keys into lists.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote, urlencode

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    StringConstraints,
)

from notify_bindings.platform.sids import CREDENTIAL_SID_PATTERN

if TYPE_CHECKING:
    from notify_bindings.binding_forms import ListBindingsQuery, ListUserBindingsQuery

MAX_BINDINGS_PER_IDENTITY = 20
MAX_TAGS_PER_BINDING = 20
MAX_TAG_FILTERS = 5
MAX_IDENTITY_FILTERS = 100
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
DEFAULT_PROTOCOL_VERSION = "3"

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Invisible marks that change the order in which text displays ("Trojan Source").
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BindingType(StrEnum):
    APN = "apn"
    GCM = "gcm"
    SMS = "sms"
    FCM = "fcm"
    FACEBOOK_MESSENGER = "facebook-messenger"
    ALEXA = "alexa"

    @property
    def is_push(self) -> bool:
        """Push channels carry a protocol version; sms and messenger have a fixed format."""
        return self not in (BindingType.SMS, BindingType.FACEBOOK_MESSENGER)

    @property
    def takes_credential(self) -> bool:
        return self in (BindingType.APN, BindingType.FCM, BindingType.GCM)


IMPLICIT_TAG_ALL = "all"


class IdentityBindingLimitPolicy(StrEnum):
    """What a Service does with a binding that would be its identity's 21st (our extension).

    `reject` refuses it (400), as Twilio does. `evict_oldest` stores it and deletes the
    identity's least recently created binding in the same transaction."""

    REJECT = "reject"
    EVICT_OLDEST = "evict_oldest"


def no_control_characters(value: str) -> str:
    if _CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters")
    return value


def canonical_identifier(value: str) -> str:
    """Identities, tags and addresses match exactly, so two spellings of one text (é as one
    code point, or as e and a combining accent) or text that displays otherwise than it reads
    would be different identifiers that look alike: refuse them rather than guess."""
    if _BIDI_CONTROLS.search(value):
        raise ValueError("must not contain bidirectional control characters")
    if not unicodedata.is_normalized("NFC", value):
        raise ValueError("must be in Unicode normalization form C (NFC)")
    if value and unicodedata.category(value[0]).startswith("M"):
        raise ValueError("must not begin with a combining character")
    return value


def _iso_date(value: object) -> object:
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date formatted as YYYY-MM-DD")
    return value


def clamp_page_size(value: int) -> int:
    # twilio-python sends list(limit=N) as PageSize=N even above the maximum: clamp, don't refuse.
    return min(value, MAX_PAGE_SIZE)


Identity = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256),
    AfterValidator(no_control_characters),
    AfterValidator(canonical_identifier),
]
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(no_control_characters),
    AfterValidator(canonical_identifier),
]
Address = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512),
    AfterValidator(no_control_characters),
    AfterValidator(canonical_identifier),
]
ProtocolVersion = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{1,16}$")]
CredentialSid = Annotated[str, StringConstraints(pattern=CREDENTIAL_SID_PATTERN)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


@dataclass(frozen=True, slots=True)
class BindingFilters:
    """What a list selects: any of `identities`, all of `tags`, created within the dates."""

    identities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    start_date: date | None = None
    end_date: date | None = None
    address: str | None = None  # ours: the binding at this address, if it matches the rest

    def query_pairs(self) -> list[tuple[str, str]]:
        """The filters as Twilio spells them in a query string, in a stable order."""
        pairs: list[tuple[str, str]] = []
        if self.start_date:
            pairs.append(("StartDate", self.start_date.isoformat()))
        if self.end_date:
            pairs.append(("EndDate", self.end_date.isoformat()))
        pairs += [("Identity", identity) for identity in self.identities]
        pairs += [("Tag", tag) for tag in self.tags]
        if self.address is not None:
            pairs.append(("Address", self.address))
        return pairs


@dataclass(frozen=True, slots=True)
class Binding:
    """A stored binding. Bindings are never updated in place: a replace is a new SID."""

    sid: str
    account_sid: str
    service_sid: str
    identity: str
    binding_type: BindingType
    address: str
    tags: tuple[str, ...]
    credential_sid: str | None
    notification_protocol_version: str | None
    date_created: datetime
    # When it expires (epoch seconds), under the Service's binding_ttl_days; None: never. From
    # that moment it is gone to every reader and writer, whether or not DynamoDB's TTL has
    # deleted anything yet. Not part of what a client sees, so not of `registers_same_as`.
    expires_at: int | None = None

    def expired_at(self, moment: float) -> bool:
        """Whether the binding has expired by `moment` (epoch seconds)."""
        return self.expires_at is not None and self.expires_at <= moment

    def registers_same_as(self, other: Binding) -> bool:
        """True when creating `other` over `self` would change nothing a client can see."""
        return (
            self.address == other.address
            and self.identity == other.identity
            and self.binding_type == other.binding_type
            and set(self.tags) == set(other.tags)
            and self.credential_sid == other.credential_sid
            and self.notification_protocol_version == other.notification_protocol_version
        )

    def index_tags(self) -> frozenset[str]:
        """The tags a list filter can select this binding by, beyond the implicit `all`."""
        return frozenset(self.tags).union({self.binding_type.value}) - {IMPLICIT_TAG_ALL}

    def matches(self, filters: BindingFilters) -> bool:
        if filters.identities and self.identity not in filters.identities:
            return False
        if filters.address is not None and self.address != filters.address:
            return False
        if not self.index_tags().union({IMPLICIT_TAG_ALL}).issuperset(filters.tags):
            return False
        day = self.date_created.date()
        if filters.start_date and day < filters.start_date:
            return False
        return not (filters.end_date and day > filters.end_date)


TWILIO_DATE = "%Y-%m-%dT%H:%M:%SZ"


class BindingLinks(BaseModel):
    user: str


class BindingResource(BaseModel):
    """A Binding as Twilio's JSON has it: exactly its fields, dates as `YYYY-MM-DDTHH:MM:SSZ`."""

    sid: str
    account_sid: str
    service_sid: str
    credential_sid: str | None
    date_created: str
    date_updated: str
    notification_protocol_version: str | None
    endpoint: str | None
    identity: str
    binding_type: str
    address: str
    tags: list[str]
    url: str
    links: BindingLinks

    @classmethod
    def of(cls, binding: Binding, base_url: str) -> BindingResource:
        service_url = f"{base_url}/v1/Services/{binding.service_sid}"
        created = binding.date_created.strftime(TWILIO_DATE)
        return cls(
            sid=binding.sid,
            account_sid=binding.account_sid,
            service_sid=binding.service_sid,
            credential_sid=binding.credential_sid,
            date_created=created,
            date_updated=created,
            notification_protocol_version=binding.notification_protocol_version,
            endpoint=None,
            identity=binding.identity,
            binding_type=binding.binding_type.value,
            address=binding.address,
            tags=list(binding.tags),
            url=f"{service_url}/Bindings/{binding.sid}",
            links=BindingLinks(user=f"{service_url}/Users/{quote(binding.identity, safe='')}"),
        )


class PageMeta(BaseModel):
    page: int
    page_size: int
    first_page_url: str
    previous_page_url: str | None
    url: str
    next_page_url: str | None
    key: str

    @classmethod
    def of(
        cls,
        list_url: str,
        key: str,
        *,
        filters: list[tuple[str, str]],
        page_size: int,
        page: int,
        page_token: str | None,
        next_page_token: str | None,
        previous_page_token: str | None,
    ) -> PageMeta:
        """Twilio's `meta`: absolute URLs on the serving host, the filters echoed."""

        def url(number: int, token: str | None) -> str:
            pairs = [*filters, ("PageSize", str(page_size)), ("Page", str(number))]
            if token:
                pairs.append(("PageToken", token))
            return f"{list_url}?{urlencode(pairs)}"

        return cls(
            page=page,
            page_size=page_size,
            first_page_url=url(0, None),
            previous_page_url=(
                url(max(page - 1, 0), previous_page_token) if previous_page_token else None
            ),
            url=url(page, page_token),
            next_page_url=url(page + 1, next_page_token) if next_page_token else None,
            key=key,
        )


class BindingPageResource(BaseModel):
    bindings: list[BindingResource]
    meta: PageMeta

    @classmethod
    def of(
        cls,
        bindings: list[Binding],
        *,
        base_url: str,
        service_sid: str,
        query: ListBindingsQuery,
        next_page_token: str | None,
        previous_page_token: str | None,
    ) -> BindingPageResource:
        return cls(
            bindings=[BindingResource.of(binding, base_url) for binding in bindings],
            meta=PageMeta.of(
                f"{base_url}/v1/Services/{service_sid}/Bindings",
                "bindings",
                filters=query.filters().query_pairs(),
                page_size=query.page_size,
                page=query.page,
                page_token=query.page_token,
                next_page_token=next_page_token,
                previous_page_token=previous_page_token,
            ),
        )

    @classmethod
    def of_user(
        cls,
        bindings: list[Binding],
        *,
        base_url: str,
        service_sid: str,
        identity: str,
        query: ListUserBindingsQuery,
        next_page_token: str | None,
        previous_page_token: str | None,
    ) -> BindingPageResource:
        """A page of `GET .../Users/{Identity}/Bindings` (ours): the same shape, its own URLs."""
        user_url = f"{base_url}/v1/Services/{service_sid}/Users/{quote(identity, safe='')}"
        return cls(
            bindings=[BindingResource.of(binding, base_url) for binding in bindings],
            meta=PageMeta.of(
                f"{user_url}/Bindings",
                "bindings",
                filters=query.query_pairs(),
                page_size=query.page_size,
                page=query.page,
                page_token=query.page_token,
                next_page_token=next_page_token,
                previous_page_token=previous_page_token,
            ),
        )
