"""A small in-memory reference model of the Binding contract (design.md, "The contract").

It knows nothing of DynamoDB, tokens or handlers: only what a client may observe. The state
machine in test_binding_state_machine.py runs every request against the API and this model and
compares the two. SIDs and creation times are the API's to choose; the model adopts them from
the create that issued them (after checking them) and predicts everything else.

The rules it encodes, each from design.md or docs/api.md's decisions where Twilio is silent:
- one binding per (Service, address): a create at a live address replaces that binding, with a
  new SID, and the old SID is 404 from then on;
- a create identical to the live binding (identity, type, tag set, credential, protocol version,
  compared after defaults) returns that binding unchanged, same SID;
- at most 20 bindings per identity per Service: a create that would give an identity its 21st
  is refused (400 / 20001) and changes nothing; replacing one of an identity's own bindings
  keeps its count and is allowed;
- duplicate tags collapse (the first occurrence keeps its place);
- `credential_sid` is kept for apn, fcm and gcm only; `notification_protocol_version` is the
  given value, else the Service's default for the type, else "3", for push types, and null for
  sms and facebook-messenger; the deprecated `Endpoint` is returned as null;
- lists: `Identity` repeated = any of them, `Tag` repeated = all of them with the implicit tags
  `all` and the binding type, `StartDate`/`EndDate` = the creation day in GMT, inclusive; all
  filters AND-ed; creation order, oldest first;
- a deleted Service, and every binding in it, is 404 at once;
- (ours) a Service with BindingTtlDays N: a binding expires N days after its creation (an
  unchanged create N days after itself, when that moves it by a day or more); from that second
  it is gone to every read and write: not listed, not counted against its identity's limit, and
  a create at its address is a new binding (CREATED).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import Enum
from typing import Any
from urllib.parse import quote

MAX_BINDINGS_PER_IDENTITY = 20
DEFAULT_PROTOCOL_VERSION = "3"
IMPLICIT_TAG_ALL = "all"
BINDING_TYPES = ("apn", "fcm", "gcm", "sms", "facebook-messenger", "alexa")
PUSH_TYPES = frozenset({"apn", "fcm", "gcm", "alexa"})
CREDENTIAL_TYPES = frozenset({"apn", "fcm", "gcm"})


@dataclass(frozen=True)
class CreateRequest:
    """What a client sends to create a binding (its address is drawn apart)."""

    identity: str
    binding_type: str
    tags: tuple[str, ...] = ()
    credential_sid: str | None = None
    notification_protocol_version: str | None = None
    endpoint: str | None = None

    def form(self, address: str) -> list[tuple[str, str]]:
        pairs = [
            ("Identity", self.identity),
            ("BindingType", self.binding_type),
            ("Address", address),
        ]
        pairs += [("Tag", tag) for tag in self.tags]
        if self.credential_sid is not None:
            pairs.append(("CredentialSid", self.credential_sid))
        if self.notification_protocol_version is not None:
            pairs.append(("NotificationProtocolVersion", self.notification_protocol_version))
        if self.endpoint is not None:
            pairs.append(("Endpoint", self.endpoint))
        return pairs


@dataclass(frozen=True)
class ModelBinding:
    sid: str
    service_sid: str
    identity: str
    binding_type: str
    address: str
    tags: tuple[str, ...]
    credential_sid: str | None
    notification_protocol_version: str | None
    date_created: str  # as the API wrote it: YYYY-MM-DDTHH:MM:SSZ
    position: int  # creation order within the model, over every Service
    expires_at: int | None = None  # epoch seconds

    @property
    def day(self) -> date:
        return date.fromisoformat(self.date_created[:10])

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def registers_same_as(self, other: Proposal) -> bool:
        return (
            self.identity == other.identity
            and self.binding_type == other.binding_type
            and set(self.tags) == set(other.tags)
            and self.credential_sid == other.credential_sid
            and self.notification_protocol_version == other.notification_protocol_version
        )

    def matches(self, filters: Filters) -> bool:
        if filters.identities and self.identity not in filters.identities:
            return False
        selectable = {*self.tags, self.binding_type, IMPLICIT_TAG_ALL}
        if not selectable.issuperset(filters.tags):
            return False
        if filters.start_date is not None and self.day < filters.start_date:
            return False
        return filters.end_date is None or self.day <= filters.end_date

    def resource(self, account_sid: str, base_url: str) -> dict[str, Any]:
        """The Binding JSON the API must answer for this binding."""
        service_url = f"{base_url}/v1/Services/{self.service_sid}"
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "service_sid": self.service_sid,
            "credential_sid": self.credential_sid,
            "date_created": self.date_created,
            "date_updated": self.date_created,
            "notification_protocol_version": self.notification_protocol_version,
            "endpoint": None,
            "identity": self.identity,
            "binding_type": self.binding_type,
            "address": self.address,
            "tags": list(self.tags),
            "url": f"{service_url}/Bindings/{self.sid}",
            "links": {"user": f"{service_url}/Users/{quote(self.identity, safe='')}"},
        }


@dataclass(frozen=True)
class Proposal:
    """The binding a create asks for, once the contract's defaults are applied."""

    identity: str
    binding_type: str
    address: str
    tags: tuple[str, ...]
    credential_sid: str | None
    notification_protocol_version: str | None


@dataclass(frozen=True)
class Filters:
    identities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    start_date: date | None = None
    end_date: date | None = None

    def query(self) -> list[tuple[str, str]]:
        pairs = [("Identity", identity) for identity in self.identities]
        pairs += [("Tag", tag) for tag in self.tags]
        if self.start_date is not None:
            pairs.append(("StartDate", self.start_date.isoformat()))
        if self.end_date is not None:
            pairs.append(("EndDate", self.end_date.isoformat()))
        return pairs


class Outcome(Enum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    REFUSED = "refused: the identity has its 20 bindings"


@dataclass(frozen=True)
class Prediction:
    outcome: Outcome
    proposal: Proposal
    current: ModelBinding | None  # the live binding at the address, if any


@dataclass
class ModelService:
    sid: str
    # The Service's default protocol versions, by binding type.
    defaults: dict[str, str] = field(default_factory=dict)
    ttl_days: int | None = None
    # Bindings by address: the live ones, and expired ones until the model drops them.
    bindings: dict[str, ModelBinding] = field(default_factory=dict)
    deleted: bool = False
    purged: bool = False
    clock: Callable[[], float] = time.time  # the API's clock

    def live(self) -> list[ModelBinding]:
        """The live bindings in creation order."""
        now = self.clock()
        held = (binding for binding in self.bindings.values() if not binding.expired(now))
        return sorted(held, key=lambda binding: binding.position)

    def live_at(self, address: str) -> ModelBinding | None:
        binding = self.bindings.get(address)
        return None if binding is None or binding.expired(self.clock()) else binding

    def expired(self) -> list[ModelBinding]:
        now = self.clock()
        return [binding for binding in self.bindings.values() if binding.expired(now)]

    def by_sid(self, sid: str) -> ModelBinding | None:
        return next((b for b in self.live() if b.sid == sid), None)

    def count(self, identity: str) -> int:
        return sum(1 for binding in self.live() if binding.identity == identity)

    def sids_by_identity(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for binding in self.live():
            found.setdefault(binding.identity, []).append(binding.sid)
        return {identity: tuple(sorted(sids)) for identity, sids in sorted(found.items())}

    def expiry_of(self, created: float) -> int | None:
        """When a binding created (or created again) at `created` expires."""
        return None if self.ttl_days is None else int(created) + self.ttl_days * 86_400

    def refresh(self, binding: ModelBinding, expires_at: int | None) -> ModelBinding:
        """An unchanged create moved the binding's expiry to `expires_at`."""
        refreshed = replace(binding, expires_at=expires_at)
        self.bindings[binding.address] = refreshed
        return refreshed

    def select(self, filters: Filters) -> list[ModelBinding]:
        return [binding for binding in self.live() if binding.matches(filters)]

    def propose(self, request: CreateRequest, address: str) -> Proposal:
        kind = request.binding_type
        version = None
        if kind in PUSH_TYPES:
            version = (
                request.notification_protocol_version
                or self.defaults.get(kind)
                or DEFAULT_PROTOCOL_VERSION
            )
        return Proposal(
            identity=request.identity,
            binding_type=kind,
            address=address,
            tags=tuple(dict.fromkeys(request.tags)),
            credential_sid=request.credential_sid if kind in CREDENTIAL_TYPES else None,
            notification_protocol_version=version,
        )

    def predict(self, request: CreateRequest, address: str) -> Prediction:
        proposal = self.propose(request, address)
        current = self.live_at(address)
        if current is not None and current.registers_same_as(proposal):
            return Prediction(Outcome.UNCHANGED, proposal, current)
        keeps_count = current is not None and current.identity == proposal.identity
        if not keeps_count and self.count(proposal.identity) >= MAX_BINDINGS_PER_IDENTITY:
            return Prediction(Outcome.REFUSED, proposal, current)
        outcome = Outcome.CREATED if current is None else Outcome.REPLACED
        return Prediction(outcome, proposal, current)

    def store(
        self, proposal: Proposal, sid: str, date_created: str, position: int, created: float
    ) -> ModelBinding:
        binding = ModelBinding(
            sid=sid,
            service_sid=self.sid,
            identity=proposal.identity,
            binding_type=proposal.binding_type,
            address=proposal.address,
            tags=proposal.tags,
            credential_sid=proposal.credential_sid,
            notification_protocol_version=proposal.notification_protocol_version,
            date_created=date_created,
            position=position,
            expires_at=self.expiry_of(created),
        )
        self.bindings[proposal.address] = binding
        return binding

    def remove(self, sid: str) -> ModelBinding | None:
        binding = next((b for b in self.bindings.values() if b.sid == sid), None)
        if binding is not None:
            del self.bindings[binding.address]
        return binding


def pages(items: Sequence[Any], size: int) -> list[list[Any]]:
    """How a list of `items` splits into pages of `size`: each page holds min(size,
    remaining); an empty list is one empty page."""
    return [list(items[start : start + size]) for start in range(0, len(items), size)] or [[]]
