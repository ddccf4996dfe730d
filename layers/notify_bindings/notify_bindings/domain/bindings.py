"""Bindings: the stored Binding, what a create asks for, what a list selects, the limits of
design.md, and what a write came to.

Plain dataclasses and rules, with no pydantic and no botocore: the functions that validate
nothing a client sends (the stream's readers) load them without either. What a client may send
is declared in `api/requests/`, Twilio's JSON in `api/responses/`, the items that hold a binding
in DynamoDB in `dal/bindings/items.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum, StrEnum

MAX_BINDINGS_PER_IDENTITY = 20
MAX_TAGS_PER_BINDING = 20
MAX_TAG_FILTERS = 5
MAX_IDENTITY_FILTERS = 100
DEFAULT_PROTOCOL_VERSION = "3"
IMPLICIT_TAG_ALL = "all"
# DynamoDB limits keys in UTF-8 bytes (a partition key to 2048, a sort key to 1024), and these
# are parts of keys (dal/bindings/items.py): an address is the bindings table's sort key, an
# identity the identity record's sort key (and, after the Service SID, its index's partition
# key). A tag is part of partition keys, `<ServiceSid>#tag#<tag>` and, for a combination of up
# to five, `<ServiceSid>#tags#<JSON list>`: five tags of 256 bytes, escaped, make one of 1,336.
# Within their limits in characters (256, 64) identities and tags never exceed these; addresses
# (512 characters) can.
MAX_ADDRESS_BYTES = 1024
MAX_IDENTITY_BYTES = 1024
MAX_TAG_BYTES = 256


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


# The implicit tags: every binding has `all` and its binding type. An explicit tag of one of these
# names would make a filter by it select bindings of another type.
RESERVED_TAGS = frozenset({IMPLICIT_TAG_ALL, *(kind.value for kind in BindingType)})


class IdentityBindingLimitPolicy(StrEnum):
    """What a Service does with a binding that would be its identity's 21st (our extension).

    `reject` refuses it (400), as Twilio does. `evict_oldest` stores it and deletes the
    identity's least recently created binding in the same transaction."""

    REJECT = "reject"
    EVICT_OLDEST = "evict_oldest"


@dataclass(frozen=True, slots=True)
class Registration:
    """What a create asks for: an identity bound to an address, as the client gave it. The
    binding it makes takes its SID, dates and defaults from the Service it is created in."""

    identity: str
    binding_type: BindingType
    address: str
    tags: tuple[str, ...] = ()
    notification_protocol_version: str | None = None
    credential_sid: str | None = None


@dataclass(frozen=True, slots=True)
class BindingFilters:
    """What a list selects: any of `identities`, all of `tags`, created within the dates."""

    identities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    start_date: date | None = None
    end_date: date | None = None
    address: str | None = None  # ours: the binding at this address, if it matches the rest


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


class Outcome(Enum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class PutResult:
    binding: Binding
    outcome: Outcome
    evicted: Binding | None = None  # the identity's oldest binding, replaced at its limit


class Removal(Enum):
    """Why a binding went, as its change event names it. Every write that removes a binding
    records why beside it, in the same transaction (a removal item, see
    `dal/bindings/items.removal_key`): the stream of the bindings table shows only that the
    address item went. Two causes write no removal item: DynamoDB's TTL (the stream names it as
    the deleter) and the purge of a deleted Service (the Service item tells)."""

    DELETED = "deleted"
    ERASED = "erased"
    EVICTED = "evicted"
    DEAD_ADDRESS = "dead_address"
    EXPIRED = "expired"
    SERVICE_DELETED = "service_deleted"


# A removal and its detail (how a push service reported an address dead, say).
RemovalCause = tuple[Removal, str | None]
