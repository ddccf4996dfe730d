"""Writes of bindings: a create, which replaces whatever binding holds its address, and takes
the place of an expired binding of its identity - or, under the Service's policy, of its oldest
- at the identity's limit.

A create is one transaction of every item it changes, each conditioned on what was read (see
`store.py`'s docstring); a transaction lost to another write is looked at again and re-planned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

from notify_bindings.dal.bindings.items import (
    MAX_TRANSACTION_ITEMS,
    Tables,
    address_key,
    binding_from,
    bindings_in_record,
    by_sid,
    has_many_tags,
    identity_key,
)
from notify_bindings.dal.bindings.plans import Plan
from notify_bindings.dal.bindings.reads import Reader
from notify_bindings.dal.bindings.removals import Removals
from notify_bindings.dal.dynamo import Cancelled, DynamoDBClient, Item, Retries
from notify_bindings.domain.bindings import (
    MAX_BINDINGS_PER_IDENTITY,
    Binding,
    IdentityBindingLimitPolicy,
    Outcome,
    PutResult,
    Removal,
)
from notify_bindings.domain.services import Service
from notify_bindings.platform.errors import IdentityLimitExceeded, Unavailable

# An unchanged re-create moves a binding's expiry on only when that moves it by a day or more:
# an app that registers at every start costs one write a day, not one per start.
EXPIRY_REFRESH_SECONDS = 86_400


class _Place(NamedTuple):
    """What a create finds at its address: the binding its address item holds, if any -
    `current` while it is live; `lapsed` once it has expired, unless its index items are known
    to be gone already."""

    held: Binding | None
    current: Binding | None
    lapsed: Binding | None

    @classmethod
    def of(cls, held: Binding | None, new: Binding, forgotten: set[str]) -> _Place:
        if held is None or not held.expired_at(new.date_created.timestamp()):
            return cls(held, held, None)
        return cls(held, None, None if held.sid in forgotten else held)

    @property
    def leaving(self) -> Binding | None:
        """The binding whose index items and copy leave with the address."""
        return self.current if self.current is not None else self.lapsed

    def frees_place_of(self, identity: str) -> bool:
        """Whether the create takes the place of a binding of `identity`: its count stays."""
        return self.leaving is not None and self.leaving.identity == identity


class _Displaced(NamedTuple):
    """The binding of an identity at its limit that gives up its place, and why: EXPIRED, or
    EVICTED (the oldest, under evict_oldest). An expired one's address item goes with it while
    it holds it, which TTL may have made nobody or a create since made another binding:
    `readdressed` once that is known."""

    binding: Binding
    removal: Removal
    readdressed: bool = False

    @property
    def evicted(self) -> Binding | None:
        return self.binding if self.removal is Removal.EVICTED else None


class _PutPlan(NamedTuple):
    plan: Plan
    guards: list[int | None]  # items whose condition fails when something changed meanwhile
    growth: int | None  # the identity's count growing: fails at its limit
    lapsed_copy: int | None  # the expired binding's copy: fails when its clean-up came first
    # The address item of an expired binding that gives up its place: fails when another
    # binding holds its address now.
    displaced_address: int | None = None


class _Attempts:
    """What the looks and transactions of one create have learnt."""

    def __init__(self) -> None:
        self.unknown: dict[str, Outcome] = {}  # SIDs of transactions whose outcome is unknown
        self.full: str | None = None  # an identity found at its limit: read its record too
        self.forgotten: set[str] = set()  # expired bindings whose index items are gone
        self.readdressed: set[str] = set()  # expired bindings whose address another holds


class Writer:
    def __init__(
        self,
        client: DynamoDBClient,
        tables: Tables,
        reader: Reader,
        removals: Removals,
        *,
        retries: Callable[[], Retries],
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._tables = tables
        self._reader = reader
        self._removals = removals
        self._retries = retries
        self._clock = clock

    def put(
        self,
        account_sid: str,
        service_sid: str,
        address: str,
        make: Callable[[Service], Binding],
    ) -> PutResult:
        """Create the binding `make` builds for the Service, replacing whatever binding holds
        its address there. Raises MissingService when the Service is not the account's.

        An expired binding at the address is gone: the create is a new binding there
        (CREATED), and takes the expired one's index items with it unless they went already.
        At the identity's limit, an expired binding of the identity gives up its place first;
        only when live bindings hold every place does the Service's policy decide:
        IdentityLimitExceeded, or the identity's oldest binding evicted in the same
        transaction. Which bindings hold the places, the identity record tells, so a create
        reads it too once a first attempt has found the identity full."""
        retries = self._retries()
        attempts = _Attempts()
        while retries.remain():
            result = self._try_put(account_sid, service_sid, address, make, attempts, retries)
            if result is not None:
                return result
        raise retries.exhausted()

    def _try_put(
        self,
        account_sid: str,
        service_sid: str,
        address: str,
        make: Callable[[Service], Binding],
        attempts: _Attempts,
        retries: Retries,
    ) -> PutResult | None:
        """One look, and the transaction it calls for; None when the create must look again."""
        keys = {self._tables.bindings: [address_key(service_sid, address)]}
        if attempts.full is not None:
            keys[self._tables.index] = [identity_key(service_sid, attempts.full)]
        found = self._reader.service_found(account_sid, service_sid, keys)
        items = found.items[self._tables.bindings]
        held = binding_from(items[0]) if items else None
        if held is not None and held.sid in attempts.unknown:
            return PutResult(held, attempts.unknown[held.sid])  # it did happen
        new = make(found.service)
        if new.identity in found.erasing:
            # Its erasure began before this create: finish it, then create.
            self._removals.erase(account_sid, service_sid, new.identity)
            return None
        at = _Place.of(held, new, attempts.forgotten)
        if at.current is not None and at.current.registers_same_as(new):
            return self._unchanged(at.current, new, retries)
        displaced = None
        if attempts.full == new.identity and not at.frees_place_of(new.identity):
            records = found.items[self._tables.index]
            displaced = _displaced(records, new, found.service, attempts.readdressed)
        put = self._plan_put(account_sid, new, at, displaced)
        if displaced is not None and put.plan.size > MAX_TRANSACTION_ITEMS:
            # A replace of a binding with many tags, at an identity's limit, displacing one
            # with many tags: more than a transaction holds. Displace first, then create.
            if self._displace_alone(account_sid, displaced, retries):
                attempts.readdressed.add(displaced.binding.sid)
            return None
        return self._commit(put, new, at, displaced, attempts, retries)

    def _unchanged(self, current: Binding, new: Binding, retries: Retries) -> PutResult | None:
        """A create identical to the live binding returns it, its expiry moved on when that
        moves it by EXPIRY_REFRESH_SECONDS or more; None when it must look again."""
        if not _expiry_moves(current, new.expires_at):
            return PutResult(current, Outcome.UNCHANGED)
        refreshed = replace(current, expires_at=new.expires_at)
        if self._refresh(refreshed, retries):
            return PutResult(refreshed, Outcome.UNCHANGED)
        return None  # replaced or deleted meanwhile, or the outcome is unknown: look again

    def _commit(
        self,
        put: _PutPlan,
        new: Binding,
        at: _Place,
        displaced: _Displaced | None,
        attempts: _Attempts,
        retries: Retries,
    ) -> PutResult | None:
        """Run the create's transaction; None, having learnt why, when it did not commit."""
        outcome = Outcome.CREATED if at.current is None else Outcome.REPLACED
        try:
            put.plan.run(self._client)
        except Cancelled as cancelled:
            if at.lapsed is not None and cancelled.failed(put.lapsed_copy):
                attempts.forgotten.add(at.lapsed.sid)  # its clean-up came first: nothing to take
            elif displaced is not None and cancelled.failed(put.displaced_address):
                attempts.readdressed.add(displaced.binding.sid)  # its address is another's now
            elif any(cancelled.failed(guard) for guard in put.guards):
                retries.lost_race()  # the Service, the address or the identity changed
            elif cancelled.failed(put.growth):
                attempts.full = new.identity  # look at its bindings: which one may give way
            else:
                retries.failed(throttled=cancelled.throttled)
            return None
        except Unavailable:
            attempts.unknown[new.sid] = outcome  # it may have happened: the next look tells
            retries.failed()
            return None
        return PutResult(new, outcome, displaced.evicted if displaced else None)

    def _plan_put(
        self, account_sid: str, new: Binding, at: _Place, displaced: _Displaced | None
    ) -> _PutPlan:
        """The transaction of a create: the address item, the index items of the binding that
        leaves the address and of the new one, and the identity records' copies and counts."""
        plan = Plan(self._tables, self._clock())
        guards: list[int | None] = [
            plan.guard_service(account_sid, new.service_sid),
            plan.put_address(new, replacing=at.held),
        ]
        leaving = at.leaving
        if leaving is not None:
            plan.remove_from_index(leaving)
        plan.add_to_index(new)
        displaced_address = None
        if displaced is not None:
            if displaced.removal is Removal.EVICTED:
                guards.append(plan.remove_binding(displaced.binding, Removal.EVICTED))
            else:
                displaced_address = _remove_expired(plan, displaced)
        gone = (leaving, displaced.binding if displaced else None)
        plan.count_many_tags(new.service_sid, has_many_tags(new) - sum(map(has_many_tags, gone)))
        growth = leaving_copy = None
        if leaving is not None and leaving.identity == new.identity:
            leaving_copy = plan.swap_copy(new, leaving)
        else:
            if displaced is not None:
                guards.append(plan.swap_copy(new, displaced.binding, at_limit=True))
            else:
                growth = plan.grow_identity(new)
            if leaving is not None:
                leaving_copy = plan.shrink_identity(leaving)
        if at.current is not None:
            guards.append(leaving_copy)
        lapsed_copy = leaving_copy if at.lapsed is not None else None
        return _PutPlan(plan, guards, growth, lapsed_copy, displaced_address)

    def _displace_alone(self, account_sid: str, displaced: _Displaced, retries: Retries) -> bool:
        """Take an identity's displaced binding while the identity is still at its limit. True
        when that failed because another binding holds the expired one's address now."""
        binding = displaced.binding
        plan = Plan(self._tables, self._clock())
        plan.guard_service(account_sid, binding.service_sid)
        address_at = None
        if displaced.removal is Removal.EVICTED:
            plan.remove_binding(binding, Removal.EVICTED)
        else:
            address_at = _remove_expired(plan, displaced)
        plan.count_many_tags(binding.service_sid, -has_many_tags(binding))
        plan.shrink_identity(binding, at_limit=True)
        try:
            plan.run(self._client)
        except Cancelled as cancelled:
            if cancelled.failed(address_at):
                return True
            if any(cancelled.failed(at) for at in range(len(cancelled.reasons))):
                retries.lost_race()  # displaced or deleted meanwhile, or no longer full
            else:
                retries.failed(throttled=cancelled.throttled)
        except Unavailable:
            retries.failed()  # the next look tells whether it happened
        return False

    def _refresh(self, binding: Binding, retries: Retries) -> bool:
        """Write the live binding's new expiry (`binding` carries it) on every item of it, while
        its address item still holds it; False when it does not, or the outcome is unknown."""
        plan = Plan(self._tables, self._clock())
        plan.put_address(binding, replacing=binding)
        plan.add_to_index(binding)
        plan.refresh_copy(binding)
        return plan.commit(self._client, retries)


def _remove_expired(plan: Plan, displaced: _Displaced) -> int | None:
    """Take an expired binding's index items (its copy goes in `swap_copy`) and, unless
    another binding holds its address now, its address item - gone already when TTL took
    it; the index of that delete, whose condition fails when another binding holds it."""
    binding = displaced.binding
    plan.remove_from_index(binding)
    if displaced.readdressed:
        return None
    plan.record_removal(binding, Removal.EXPIRED, None)
    return plan.remove_address_unless_readdressed(binding)


def _displaced(
    records: list[Item], new: Binding, service: Service, readdressed: set[str]
) -> _Displaced | None:
    """Which binding of an identity at its limit gives up its place to `new`: an expired one
    (the oldest of them), else the oldest under evict_oldest; None when a place is free.
    IdentityLimitExceeded when live bindings hold every place and the Service rejects.
    SIDs begin with their creation time, so the smallest is the oldest."""
    bindings = list(bindings_in_record(records[0])) if records else []
    if len(bindings) < MAX_BINDINGS_PER_IDENTITY:
        return None
    moment = new.date_created.timestamp()
    expired = [binding for binding in bindings if binding.expired_at(moment)]
    if expired:
        oldest = min(expired, key=by_sid)
        return _Displaced(oldest, Removal.EXPIRED, oldest.sid in readdressed)
    if service.identity_binding_limit_policy != IdentityBindingLimitPolicy.EVICT_OLDEST:
        raise IdentityLimitExceeded(MAX_BINDINGS_PER_IDENTITY)
    return _Displaced(min(bindings, key=by_sid), Removal.EVICTED)


def _expiry_moves(current: Binding, expires_at: int | None) -> bool:
    """Whether an unchanged re-create moves the binding's expiry (see EXPIRY_REFRESH_SECONDS)."""
    if current.expires_at is None or expires_at is None:
        return current.expires_at != expires_at
    return abs(expires_at - current.expires_at) >= EXPIRY_REFRESH_SECONDS
