"""The binding store: the only code that reads or writes bindings.

Items (design.md invariants 1-4 hold because each write below is one transaction):

BindingsTable (ServiceSid, Address)
    the binding, one item per address: `attribute_not_exists` / `Sid = :sid` conditions on
    it serialise every create, replace and delete of that address.
BindingIndexTable (pk, sk)
    (ServiceSid, Sid)                   the binding by SID: fetch, and the Service's list in
                                        creation order (SIDs sort by creation time)
    (ServiceSid#tag#<tag>, Sid)         one per index tag (its tags and its binding type):
                                        lists by one tag
    (ServiceSid#tags#[<tag>,...], Sid)  one per combination of two or more index tags, when
                                        the binding has at most MAX_COMBINED_TAGS of them:
                                        lists by several tags read only what they return
    (ServiceSid#many-tags, Sid)         instead, for a binding with more index tags than that
    (ServiceSid#stats, many-tags)       ManyTagBindings: how many bindings have such an item,
                                        so that a list by several tags reads that partition
                                        (and filters it) only when it holds something
    (ServiceSid#identity, <identity>)   the identity record: BindingCount (conditioned on the
                                        per-identity limit) and a copy of each binding under an
                                        attribute named by its SID, so a list by identity is
                                        one strongly consistent BatchGetItem.

An identity record that loses its last binding stays, with BindingCount 0 and no copies: such a
record is the same as no record, to every reader and to the limit. Deleting it instead would
need the count first (a delete cannot be conditioned on "last binding, else decrement"), and so
one more round trip; the write paths never delete an identity record, the purge of a deleted
Service does.

A list by several tags (AND) reads the one partition of exactly that combination, and no filter
passes over bindings that do not match. The price is paid in writes: a binding with k index
tags (k <= MAX_COMBINED_TAGS) has 2^k - 1 tag and combination items - 1, 3, 7, 15, 31 for
k = 1..5 - so four explicit tags and a type cost 31 items where single-tag items alone would
cost 5. Bindings with more index tags than that (Twilio allows 20 tags) would need thousands,
so they get the many-tags item instead, and a list by several tags in a Service that has any
reads and filters that partition too: its cost then grows with the number of such bindings, but
a page reads at most MANY_TAGS_READ_BUDGET of them, and ends short (even empty) with a cursor
past what it read when they match too rarely.

Every item that describes a binding carries the same attributes, so any of them answers a read.
Every operation reads the caller's Service in the same round trip as the binding, and every
write checks it in the same transaction: a binding is only ever seen through a live Service of
the caller's account.

Erasing an identity (`erase`) removes up to 20 bindings, each with up to 33 items, more than
one transaction may hold (100 items). When they fit, it is one transaction. When they do not,
the first transaction also adds the identity to the Service item's `ErasingIdentities`, and
the last removes it with the identity record: every reader reads the Service item first (in
the same round trip, or before its query), and treats the bindings of an identity being erased
as gone, so no reader sees an erasure half done. A write for that identity completes the
erasure before it goes on (any later DELETE of the User does too), so an interrupted erasure
blocks nothing and is finished by whoever comes next.

Expiry (a Service's binding_ttl_days) is exact. Every item of a binding - its address item, its
index items, its copy in its identity record - carries its `ExpiresAt`, and from that moment
every read leaves it out (a query filters it, a read by key drops it) and every write treats
it as gone. DynamoDB's TTL deletes the address item alone, some time later (it is the bindings
table's TTL attribute); the rest goes with `forget_expired`, which the clean-up function calls
for each TTL delete in the table's stream, or with whichever write needs the place first: a
create at its address, a create for its identity at the limit, the erasure of its identity.
Its index items and its copy always go together, in one transaction conditioned on the copy
(which also holds its place in `BindingCount`), so whoever comes second finds nothing to do;
no write is conditioned on an expired binding's address item, which TTL may delete at any time.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from itertools import combinations
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from botocore.exceptions import ClientError

from notify_bindings.dynamo import (
    BATCH_GET_LIMIT,
    AttributeValue,
    Cancelled,
    DynamoDBClient,
    Item,
    KeyRange,
    Page,
    Retries,
    Transaction,
    batch_get,
    batch_write_deletes,
    merged,
    query_page,
    translated_errors,
    window,
    write_item,
)
from notify_bindings.models import (
    IMPLICIT_TAG_ALL,
    MAX_BINDINGS_PER_IDENTITY,
    MAX_TAG_FILTERS,
    Binding,
    BindingFilters,
    BindingType,
    IdentityBindingLimitPolicy,
)
from notify_bindings.platform.errors import IdentityLimitExceeded, Unavailable
from notify_bindings.platform.sids import first_binding_sid_on, last_binding_sid_on
from notify_bindings.service_models import Service
from notify_bindings.service_store import LIVE, service_from, service_key
from notify_bindings.tokens import Direction, KeyCursor, PageCursor

if TYPE_CHECKING:
    from notify_bindings.user_models import User

T = TypeVar("T")

_PURGE_PAGE = 100
# The most items DynamoDB takes in one TransactWriteItems.
MAX_TRANSACTION_ITEMS = 100
# The Service item's string set of the identities whose erasure has begun and not ended.
ERASING = "ErasingIdentities"
# A page of Users reads at most this many identity records beyond the page (and the one after
# it): records emptied by deletes are skipped, and a page that meets more of them than this
# ends short, with a next_page_url that carries on after them.
USERS_SKIPPED_PER_PAGE = 100
_USERS_QUERY_CHUNK = 25
# A page of a list by several tags reads at most about this many items of the many-tags
# partition (which it filters): when they hold too few matches, the page ends short, with a
# next_page_url that carries on after them, so that no page's time or cost grows with it.
MANY_TAGS_READ_BUDGET = 1000
# A page of a list reads at most this many items beyond the page (and the one after it) that it
# leaves out - expired bindings TTL has not deleted yet, those of identities being erased -
# and ends short, with a next_page_url past them, when it meets more.
SKIPPED_PER_PAGE = 1000
_EVICT_OLDEST = IdentityBindingLimitPolicy.EVICT_OLDEST
# A binding with at most this many index tags is listed under every combination of them. It is
# the most tags a list can filter by, so that every list by tags names one partition.
MAX_COMBINED_TAGS = MAX_TAG_FILTERS
# A removal item outlives the stream record it explains (a stream keeps records 24 hours),
# then DynamoDB's TTL deletes it (the index table's TTL attribute is RemoveAfter).
REMOVAL_RECORD_SECONDS = 2 * 86_400
# An unchanged re-create moves a binding's expiry on only when that moves it by a day or more:
# an app that registers at every start costs one write a day, not one per start.
EXPIRY_REFRESH_SECONDS = 86_400


class MissingService(Exception):
    """No such Service in the caller's account (or it is being deleted)."""


class Outcome(Enum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"


class Removal(Enum):
    """Why a binding went, as its change event names it. Every write that removes a binding
    records why beside it, in the same transaction (a removal item, see `removal_key`): the
    stream of the bindings table shows only that the address item went. Two causes write no
    removal item: DynamoDB's TTL (the stream names it as the deleter) and the purge of a
    deleted Service (the Service item tells)."""

    DELETED = "deleted"
    ERASED = "erased"
    EVICTED = "evicted"
    DEAD_ADDRESS = "dead_address"
    EXPIRED = "expired"
    SERVICE_DELETED = "service_deleted"


# A removal and its detail (how a push service reported an address dead, say).
RemovalCause = tuple[Removal, str | None]


@dataclass(frozen=True, slots=True)
class PutResult:
    binding: Binding
    outcome: Outcome
    evicted: Binding | None = None  # the identity's oldest binding, replaced at its limit


@dataclass(frozen=True, slots=True)
class KeyPage(Generic[T]):
    """A page of a listing ordered by key, and where its neighbours start (None: none)."""

    items: list[T]
    before: KeyCursor | None
    after: KeyCursor | None


@dataclass(frozen=True, slots=True)
class _Found:
    """What a read with the Service found: the live Service, the identities being erased
    (their bindings are gone to every reader), and the items read beside it, by table."""

    service: Service
    erasing: frozenset[str]
    now: float  # when it was read (epoch seconds): bindings expired by then are gone
    items: dict[str, list[Item]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Place:
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


@dataclass(frozen=True, slots=True)
class _Displaced:
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


@dataclass(frozen=True, slots=True)
class _PutPlan:
    transaction: Transaction
    guards: list[int | None]  # items whose condition fails when something changed meanwhile
    growth: int | None  # the identity's count growing: fails at its limit
    lapsed_copy: int | None  # the expired binding's copy: fails when its clean-up came first
    # The address item of an expired binding that gives up its place: fails when another
    # binding holds its address now.
    displaced_address: int | None = None


class BindingStore:
    def __init__(
        self,
        client: DynamoDBClient,
        bindings_table: str,
        index_table: str,
        services_table: str,
        *,
        retries: Callable[[], Retries] = Retries,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._clock = clock
        self._bindings_table = bindings_table
        self._index_table = index_table
        self._services_table = services_table
        self._retries = retries

    # -- reads ---------------------------------------------------------------------------

    def get(self, account_sid: str, service_sid: str, sid: str) -> Binding | None:
        """The binding, if it exists in a live Service of the account: one round trip."""
        found = self._read_with_service(
            account_sid, service_sid, {self._index_table: [_sid_key(service_sid, sid)]}
        )
        if found is None:
            return None
        items = found.items[self._index_table]
        binding = _binding_from(items[0]) if items else None
        return binding if binding is not None and _visible(binding, found) else None

    def list_page(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        size: int,
    ) -> Page[Binding]:
        if filters.address is not None:
            # The address is the bindings table's key: one read, whatever else is asked.
            key = _address_key(service_sid, filters.address)
            found = self._read_with_service(account_sid, service_sid, {self._bindings_table: [key]})
            if found is None:
                raise MissingService()
            held = [_binding_from(item) for item in found.items[self._bindings_table]]
            matching = [b for b in held if b.matches(filters) and _visible(b, found)]
            return window(matching, lambda binding: binding.sid, cursor, size)

        if filters.identities:
            keys = [_identity_key(service_sid, identity) for identity in filters.identities]
            found = self._read_with_service(account_sid, service_sid, {self._index_table: keys})
            if found is None:
                raise MissingService()
            bindings = sorted(
                (
                    binding
                    for record in found.items[self._index_table]
                    for binding in _bindings_in_record(record)
                    if binding.matches(filters) and _visible(binding, found)
                ),
                key=lambda binding: binding.sid,
            )
            return window(bindings, lambda binding: binding.sid, cursor, size)

        tags = sorted(set(filters.tags) - {IMPLICIT_TAG_ALL})
        several = len(tags) > 1
        stats = [_stats_key(service_sid)] if several else []
        found = self._read_with_service(account_sid, service_sid, {self._index_table: stats})
        if found is None:
            raise MissingService()
        # Every binding SID sorts between "BS" and "BT".
        low = first_binding_sid_on(filters.start_date) if filters.start_date else "BS"
        high = last_binding_sid_on(filters.end_date) if filters.end_date else "BT"
        hidden: Item = {}
        hiding, names = _hidden(found, hidden)
        scope = KeyRange(
            self._index_table,
            ("pk", _tags_partition(service_sid, tags)),
            "sk",
            low,
            high,
            filter_expression=hiding,
            filter_values=hidden,
            filter_names=names,
        )
        budget = size + 1 + SKIPPED_PER_PAGE
        page = query_page(self._client, scope, cursor, size, _binding_from, read_budget=budget)
        if not several or not _many_tag_bindings(found.items[self._index_table]):
            return page
        values: Item = {**hidden}
        wanted = _tag_filter(tags, values)
        many = KeyRange(
            self._index_table,
            ("pk", _many_tags_partition(service_sid)),
            "sk",
            low,
            high,
            filter_expression=f"{wanted} AND {hiding}",
            filter_values=values,
            filter_names=names,
        )
        others = query_page(
            self._client, many, cursor, size, _binding_from, read_budget=MANY_TAGS_READ_BUDGET
        )
        forward = cursor is None or cursor.direction is Direction.AFTER
        return merged([page, others], lambda binding: binding.sid, size, forward=forward)

    def get_user(self, account_sid: str, service_sid: str, identity: str) -> User | None:
        """The identity's bindings, if it has any in a live Service of the account: one
        round trip."""
        found = self._read_with_service(
            account_sid, service_sid, {self._index_table: [_identity_key(service_sid, identity)]}
        )
        if found is None or identity in found.erasing:
            return None
        return _user_from(account_sid, service_sid, found.items[self._index_table], found.now)

    def list_user_bindings(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        size: int,
    ) -> Page[Binding] | None:
        """A page of one identity's bindings (`filters` names it); None when it has none."""
        (identity,) = filters.identities
        found = self._read_with_service(
            account_sid, service_sid, {self._index_table: [_identity_key(service_sid, identity)]}
        )
        if found is None:
            raise MissingService()
        user = None
        if identity not in found.erasing:
            user = _user_from(account_sid, service_sid, found.items[self._index_table], found.now)
        if user is None:
            return None
        selected = [binding for binding in user.bindings if binding.matches(filters)]
        return window(selected, lambda binding: binding.sid, cursor, size)

    def list_users_page(
        self, account_sid: str, service_sid: str, cursor: KeyCursor | None, size: int
    ) -> KeyPage[User]:
        """A page of the Service's identities that have bindings, by identity.

        Identity records emptied by deletes stay (see the module's docstring) and are skipped
        by a filter; a page reads at most USERS_SKIPPED_PER_PAGE of them beyond what it
        returns, and ends short (with a cursor past the last record it read) when it meets
        more: its cost never grows with the number of emptied records.
        """
        found = self._read_with_service(account_sid, service_sid, {})
        if found is None:
            raise MissingService()
        forward = cursor is None or cursor.direction is Direction.AFTER
        condition, values = "pk = :pk", {":pk": {"S": f"{service_sid}#identity"}}
        if cursor is not None:
            comparison = (">" if forward else "<") + ("=" if cursor.inclusive else "")
            condition += f" AND sk {comparison} :key"
            values[":key"] = {"S": cursor.key}
        request: dict[str, Any] = {
            "TableName": self._index_table,
            "ConsistentRead": True,
            "ScanIndexForward": forward,
            "KeyConditionExpression": condition,
            "FilterExpression": "BindingCount > :none",
            "ExpressionAttributeValues": {**values, ":none": {"N": "0"}},
        }
        users: list[User] = []
        budget = size + 1 + USERS_SKIPPED_PER_PAGE
        last_read: str | None = None
        exhausted = False
        while len(users) <= size and budget > 0:
            limit = min(budget, max(size + 1 - len(users), _USERS_QUERY_CHUNK))
            with translated_errors():
                response = self._client.query(**request, Limit=limit)
            budget -= int(response.get("ScannedCount", limit))
            for record in response.get("Items", []):
                identity = record["sk"]["S"]
                user = _user_from(account_sid, service_sid, [record], found.now)
                if user is not None and identity not in found.erasing:
                    users.append(user)
            resume = response.get("LastEvaluatedKey")
            if resume is None:
                exhausted = True
                break
            last_read = resume["sk"]["S"]
            request["ExclusiveStartKey"] = resume
        page = users[:size]
        beyond: KeyCursor | None = None  # where a page further in this direction starts
        if len(users) > size:
            beyond = KeyCursor(cursor.direction if cursor else Direction.AFTER, page[-1].identity)
        elif not exhausted and last_read is not None:
            beyond = KeyCursor(cursor.direction if cursor else Direction.AFTER, last_read)
        back: KeyCursor | None = None  # where a page back the other way starts
        if cursor is not None:
            opposite = Direction.BEFORE if forward else Direction.AFTER
            if page:
                back = KeyCursor(opposite, page[0].identity)
            else:
                back = KeyCursor(opposite, cursor.key, inclusive=not cursor.inclusive)
        if forward:
            return KeyPage(page, back, beyond)
        page.reverse()
        return KeyPage(page, beyond, back)

    def _read_with_service(
        self, account_sid: str, service_sid: str, keys: dict[str, list[Item]]
    ) -> _Found | None:
        """The live Service and the items at `keys` (by table), read together (more than 99
        keys take more round trips); None without the Service."""
        wanted = [(table, key) for table, table_keys in keys.items() for key in table_keys]
        first, rest = wanted[: BATCH_GET_LIMIT - 1], wanted[BATCH_GET_LIMIT - 1 :]
        batch: dict[str, list[Item]] = {
            self._services_table: [service_key(account_sid, service_sid)]
        }
        for table, key in first:
            batch.setdefault(table, []).append(key)
        now = self._clock()
        found = batch_get(self._client, batch, self._retries())
        services = found.pop(self._services_table)
        service = service_from(services[0]) if services else None
        if service is None:
            return None
        items = {table: found.get(table, []) for table in keys}
        for start in range(0, len(rest), BATCH_GET_LIMIT):
            more: dict[str, list[Item]] = {}
            for table, key in rest[start : start + BATCH_GET_LIMIT]:
                more.setdefault(table, []).append(key)
            for table, read in batch_get(self._client, more, self._retries()).items():
                items[table] += read
        erasing = frozenset(services[0].get(ERASING, {}).get("SS", []))
        return _Found(service, erasing, now, items)

    # -- writes --------------------------------------------------------------------------

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
        attempted: dict[str, Outcome] = {}  # SIDs of transactions whose outcome is unknown
        full: str | None = None  # an identity found at its limit: read its record too
        forgotten: set[str] = set()  # expired bindings whose index items are known to be gone
        readdressed: set[str] = set()  # expired bindings whose address another binding holds
        while retries.remain():
            keys = {self._bindings_table: [_address_key(service_sid, address)]}
            if full is not None:
                keys[self._index_table] = [_identity_key(service_sid, full)]
            found = self._read_with_service(account_sid, service_sid, keys)
            if found is None:
                raise MissingService()
            items = found.items[self._bindings_table]
            held = _binding_from(items[0]) if items else None
            if held is not None and held.sid in attempted:
                return PutResult(held, attempted[held.sid])  # it did happen
            new = make(found.service)
            if new.identity in found.erasing:
                # Its erasure began before this create: finish it, then create.
                self.erase(account_sid, service_sid, new.identity)
                continue
            at = _Place.of(held, new, forgotten)
            if at.current is not None and at.current.registers_same_as(new):
                if not _expiry_moves(at.current, new.expires_at):
                    return PutResult(at.current, Outcome.UNCHANGED)
                refreshed = replace(at.current, expires_at=new.expires_at)
                if self._refresh(refreshed, retries):
                    return PutResult(refreshed, Outcome.UNCHANGED)
                continue  # replaced or deleted meanwhile, or the outcome is unknown: look again
            displaced = None
            if full == new.identity and not at.frees_place_of(new.identity):
                records = found.items[self._index_table]
                displaced = _displaced(records, new, found.service, readdressed)
            plan = self._plan_put(account_sid, new, at, displaced)
            if displaced is not None and len(plan.transaction.items) > MAX_TRANSACTION_ITEMS:
                # A replace of a binding with many tags, at an identity's limit, displacing one
                # with many tags: more than a transaction holds. Displace first, then create.
                if self._displace_alone(account_sid, displaced, retries):
                    readdressed.add(displaced.binding.sid)
                continue
            outcome = Outcome.CREATED if at.current is None else Outcome.REPLACED
            try:
                plan.transaction.run(self._client)
            except Cancelled as cancelled:
                if at.lapsed is not None and cancelled.failed(plan.lapsed_copy):
                    forgotten.add(at.lapsed.sid)  # its clean-up came first: nothing to take
                    continue
                if displaced is not None and cancelled.failed(plan.displaced_address):
                    readdressed.add(displaced.binding.sid)  # its address is another's now
                    continue
                if any(cancelled.failed(guard) for guard in plan.guards):
                    retries.lost_race()  # the Service, the address or the identity changed
                    continue
                if cancelled.failed(plan.growth):
                    full = new.identity  # look at its bindings: which one may give way
                    continue
                retries.failed(throttled=cancelled.throttled)
                continue
            except Unavailable:
                attempted[new.sid] = outcome  # it may have happened: the next look tells
                retries.failed()
                continue
            return PutResult(new, outcome, displaced.evicted if displaced else None)
        raise retries.exhausted()

    def _plan_put(
        self, account_sid: str, new: Binding, at: _Place, displaced: _Displaced | None
    ) -> _PutPlan:
        """The transaction of a create: the address item, the index items of the binding that
        leaves the address and of the new one, and the identity records' copies and counts."""
        plan = Transaction()
        guards: list[int | None] = [
            self._guard_service(plan, account_sid, new.service_sid),
            plan.add("Put", self._bindings_table, Item=_address_item(new), **_holds(at.held)),
        ]
        leaving = at.leaving
        if leaving is not None:
            self._remove_from_index(plan, leaving)
        self._add_to_index(plan, new)
        displaced_address = None
        if displaced is not None:
            if displaced.removal is Removal.EVICTED:
                guards.append(self._remove_binding(plan, displaced.binding, Removal.EVICTED))
            else:
                displaced_address = self._remove_expired(plan, displaced)
        gone = (leaving, displaced.binding if displaced else None)
        self._count_many_tags(
            plan, new.service_sid, _has_many_tags(new) - sum(map(_has_many_tags, gone))
        )
        growth = leaving_copy = None
        if leaving is not None and leaving.identity == new.identity:
            leaving_copy = self._swap_copy(plan, new, leaving)
        else:
            if displaced is not None:
                guards.append(self._swap_copy(plan, new, displaced.binding, at_limit=True))
            else:
                growth = self._grow_identity(plan, new)
            if leaving is not None:
                leaving_copy = self._shrink_identity(plan, leaving)
        if at.current is not None:
            guards.append(leaving_copy)
        lapsed_copy = leaving_copy if at.lapsed is not None else None
        return _PutPlan(plan, guards, growth, lapsed_copy, displaced_address)

    def _remove_expired(self, plan: Transaction, displaced: _Displaced) -> int | None:
        """Take an expired binding's index items (its copy goes in `_swap_copy`) and, unless
        another binding holds its address now, its address item - gone already when TTL took
        it; the index of that delete, whose condition fails when another binding holds it."""
        binding = displaced.binding
        self._remove_from_index(plan, binding)
        if displaced.readdressed:
            return None
        plan.add("Put", self._index_table, Item=_removal_item(binding, Removal.EXPIRED, None))
        return plan.add(
            "Delete",
            self._bindings_table,
            Key=_address_key(binding.service_sid, binding.address),
            ConditionExpression="attribute_not_exists(Sid) OR Sid = :sid",
            ExpressionAttributeValues={":sid": {"S": binding.sid}},
        )

    def _displace_alone(self, account_sid: str, displaced: _Displaced, retries: Retries) -> bool:
        """Take an identity's displaced binding while the identity is still at its limit. True
        when that failed because another binding holds the expired one's address now."""
        binding = displaced.binding
        plan = Transaction()
        self._guard_service(plan, account_sid, binding.service_sid)
        address_at = None
        if displaced.removal is Removal.EVICTED:
            self._remove_binding(plan, binding, Removal.EVICTED)
        else:
            address_at = self._remove_expired(plan, displaced)
        self._count_many_tags(plan, binding.service_sid, -_has_many_tags(binding))
        plan.add(
            "Update",
            self._index_table,
            Key=_identity_key(binding.service_sid, binding.identity),
            UpdateExpression="REMOVE #old ADD BindingCount :minus_one",
            ConditionExpression="attribute_exists(#old) AND BindingCount >= :limit",
            ExpressionAttributeNames={"#old": binding.sid},
            ExpressionAttributeValues={
                ":minus_one": {"N": "-1"},
                ":limit": {"N": str(MAX_BINDINGS_PER_IDENTITY)},
            },
        )
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

    def delete(self, account_sid: str, service_sid: str, sid: str) -> Binding | None:
        """Delete the binding; None when there is no such binding (any more)."""
        return self._remove(
            account_sid,
            service_sid,
            lambda: self.get(account_sid, service_sid, sid),
            Removal.DELETED,
        )

    def remove_dead_address(
        self,
        account_sid: str,
        service_sid: str,
        address: str,
        *,
        binding_sid: str | None = None,
        detail: str | None = None,
    ) -> Binding | None:
        """Delete the binding at `address`, reported dead by a push service (`detail` says
        how), and only while it holds that address: when `binding_sid` is given, only if it
        is still that binding (not one registered there since). The binding removed, or None.
        Raises MissingService when the Service is not the account's."""

        # The binding found first is the one reported: a look again (after a transaction was
        # cancelled) must not take one registered at the address meanwhile, after the report.
        reported = binding_sid

        def holder() -> Binding | None:
            nonlocal reported
            key = _address_key(service_sid, address)
            found = self._read_with_service(account_sid, service_sid, {self._bindings_table: [key]})
            if found is None:
                raise MissingService()
            held = [_binding_from(item) for item in found.items[self._bindings_table]]
            current = next(
                (
                    binding
                    for binding in held
                    if _visible(binding, found) and reported in (None, binding.sid)
                ),
                None,
            )
            if current is not None:
                reported = current.sid
            return current

        return self._remove(account_sid, service_sid, holder, Removal.DEAD_ADDRESS, detail)

    def _remove(
        self,
        account_sid: str,
        service_sid: str,
        look: Callable[[], Binding | None],
        removal: Removal,
        detail: str | None = None,
    ) -> Binding | None:
        """Remove the binding `look` finds, for `removal`; None when it finds none (any more)."""
        retries = self._retries()
        removing: Binding | None = None  # set once a transaction's outcome is unknown
        while retries.remain():
            current = look()
            if current is None:
                return removing  # the removal may have been ours: either way it is gone
            plan = Transaction()
            service_guard = self._guard_service(plan, account_sid, service_sid)
            address_guard = self._remove_binding(plan, current, removal, detail)
            self._count_many_tags(plan, service_sid, -_has_many_tags(current))
            shrink_at = self._shrink_identity(plan, current)
            try:
                plan.run(self._client)
            except Cancelled as cancelled:
                if any(cancelled.failed(at) for at in (service_guard, address_guard, shrink_at)):
                    retries.lost_race()  # removed or replaced meanwhile: the next look tells
                    continue
                retries.failed(throttled=cancelled.throttled)
                continue
            except Unavailable:
                removing = current  # it may have happened: the next look tells
                retries.failed()
                continue
            return current
        raise retries.exhausted()

    def forget_expired(self, binding: Binding) -> bool:
        """Remove what indexes and counts an expired binding: its index items, its place in the
        many-tags count, its copy and place in its identity record - all in one transaction
        conditioned on the copy, which they always leave with. False when they went already
        (the stream record delivered again, or a create or an erasure took them first).

        Its address item is not touched: DynamoDB's TTL deletes it (that delete is what calls
        this), or a create at its address replaces it."""
        retries = self._retries()
        while retries.remain():
            plan = Transaction()
            copy_at = self._shrink_identity(plan, binding)
            self._remove_from_index(plan, binding)
            self._count_many_tags(plan, binding.service_sid, -_has_many_tags(binding))
            try:
                plan.run(self._client)
            except Cancelled as cancelled:
                if cancelled.failed(copy_at):
                    return False  # forgotten already: nothing of it is left to take
                retries.failed(throttled=cancelled.throttled)
                continue
            except Unavailable:
                retries.failed()  # it may have happened: the condition tells next time
                continue
            return True
        raise retries.exhausted()

    def removal_of(self, service_sid: str, sids: list[str]) -> dict[str, RemovalCause]:
        """Why each of these bindings was removed, for those whose removal recorded it."""
        keys = [(self._index_table, removal_key(service_sid, sid)) for sid in sids]
        found: dict[str, RemovalCause] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            batch: dict[str, list[Item]] = {}
            for table, key in keys[start : start + BATCH_GET_LIMIT]:
                batch.setdefault(table, []).append(key)
            for item in batch_get(self._client, batch, self._retries()).get(self._index_table, []):
                detail = item.get("Detail", {}).get("S")
                found[item["sk"]["S"]] = (Removal(item["Removal"]["S"]), detail)
        return found

    def _refresh(self, binding: Binding, retries: Retries) -> bool:
        """Write the live binding's new expiry (`binding` carries it) on every item of it, while
        its address item still holds it; False when it does not, or the outcome is unknown."""
        plan = Transaction()
        plan.add("Put", self._bindings_table, Item=_address_item(binding), **_holds(binding))
        self._add_to_index(plan, binding)
        plan.add(
            "Update",
            self._index_table,
            Key=_identity_key(binding.service_sid, binding.identity),
            UpdateExpression="SET #sid = :binding",
            ConditionExpression="attribute_exists(#sid)",
            ExpressionAttributeNames={"#sid": binding.sid},
            ExpressionAttributeValues={":binding": {"M": _binding_attributes(binding)}},
        )
        try:
            plan.run(self._client)
        except Cancelled as cancelled:
            if any(cancelled.failed(at) for at in range(len(cancelled.reasons))):
                retries.lost_race()  # replaced or removed meanwhile
            else:
                retries.failed(throttled=cancelled.throttled)
            return False
        except Unavailable:
            retries.failed()  # it may have happened: the next look tells
            return False
        return True

    def erase(self, account_sid: str, service_sid: str, identity: str) -> bool:
        """Delete every binding of the identity, and its identity record; False when it has
        none (and no erasure of it is under way) - nothing to erase. Its expired bindings go
        too (their address items as well, where TTL has not deleted them), but count as none.

        Bindings go a transaction at a time, as many whole bindings as one holds: at once for
        most identities. When they take more than one, the Service item marks the identity as
        being erased from the first transaction to the last (see the module's docstring), so
        no reader sees part of them gone. A transaction cancelled or of unknown outcome is
        found out by the next read, which starts again from what is left: an interrupted
        erasure is finished by the next call, or by the next create for the identity.
        """
        retries = self._retries()
        erased = False  # whether a binding the identity had was live
        began = False  # whether the identity was seen marked, or marked by this call
        left: list[Binding] | None = None  # after a transaction of ours: what it did not take
        causes: dict[str, Removal | None] = {}  # by SID; None: its address item is gone
        while retries.remain():
            if left is None:
                found = self._read_with_service(
                    account_sid,
                    service_sid,
                    {self._index_table: [_identity_key(service_sid, identity)]},
                )
                if found is None:
                    raise MissingService()
                records = found.items[self._index_table]
                bindings = sorted(_bindings_in_record(records[0]), key=_sid) if records else []
                marked = identity in found.erasing
                if began and not marked:
                    # The erasure is over: ended by this call (its answer lost) or by a create
                    # that finished it. Bindings the identity has now came after it.
                    return True
                began = began or marked
                if not bindings and not marked:
                    if records:
                        # Emptied by deletes, it holds nothing but the identity: erase that too.
                        self._delete_emptied_record(service_sid, identity)
                    return erased
                causes = self._erasure_causes(bindings, found.now)
                erased = erased or marked or Removal.ERASED in causes.values()
            else:
                bindings, marked, left = left, True, None
            plan, taken = self._erasure_step(
                account_sid, service_sid, identity, bindings, marked, causes
            )
            try:
                plan.run(self._client)
            except Cancelled as cancelled:
                if any(cancelled.failed(at) for at in range(len(cancelled.reasons))):
                    retries.lost_race()  # the identity changed meanwhile: look again
                else:
                    retries.failed(throttled=cancelled.throttled)
                continue
            except Unavailable:
                retries.failed()  # it may have happened: the next look tells
                continue
            if taken == len(bindings):
                return erased
            left, began = bindings[taken:], True  # and the identity is marked now
        raise retries.exhausted()

    def _erasure_step(
        self,
        account_sid: str,
        service_sid: str,
        identity: str,
        bindings: list[Binding],
        marked: bool,
        causes: dict[str, Removal | None],
    ) -> tuple[Transaction, int]:
        """The next transaction of an erasure: as many of `bindings` as it holds, whole, and
        how many that is. The last also removes the identity record and the Service's mark."""
        room = MAX_TRANSACTION_ITEMS - 3  # the Service, the identity record, the count of tags
        chunk: list[Binding] = []
        for binding in bindings:
            # Its index items, and its address and removal items unless TTL took the first.
            size = len(_index_keys(binding)) + (2 if causes[binding.sid] else 0)
            if size > room:
                break
            chunk.append(binding)
            room -= size
        last = len(chunk) == len(bindings)
        plan = Transaction()
        me = {":me": {"SS": [identity]}}
        if marked and last:
            plan.add(
                "Update",
                self._services_table,
                Key=service_key(account_sid, service_sid),
                UpdateExpression=f"DELETE {ERASING} :me",
                ConditionExpression=LIVE,
                ExpressionAttributeValues=me,
            )
        elif not marked and not last:
            plan.add(
                "Update",
                self._services_table,
                Key=service_key(account_sid, service_sid),
                UpdateExpression=f"ADD {ERASING} :me",
                ConditionExpression=LIVE,
                ExpressionAttributeValues=me,
            )
        else:  # all in this one transaction, or one in the middle of a marked erasure
            self._guard_service(plan, account_sid, service_sid)
        for binding in chunk:
            cause = causes[binding.sid]
            if cause is None:
                self._remove_from_index(plan, binding)
            else:
                self._remove_binding(plan, binding, cause)
        self._count_many_tags(plan, service_sid, -sum(map(_has_many_tags, chunk)))
        names = {f"#b{n}": binding.sid for n, binding in enumerate(chunk)}
        present = " AND ".join(f"attribute_exists({name})" for name in names)
        key = _identity_key(service_sid, identity)
        if last:
            # Exactly these bindings left; or, all gone already, an emptied record or none.
            count = {":count": {"N": str(len(chunk))}}
            plan.add(
                "Delete",
                self._index_table,
                Key=key,
                ConditionExpression=(
                    f"BindingCount = :count AND {present}"
                    if chunk
                    else "attribute_not_exists(BindingCount) OR BindingCount = :count"
                ),
                ExpressionAttributeValues=count,
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        else:
            plan.add(
                "Update",
                self._index_table,
                Key=key,
                UpdateExpression=f"REMOVE {', '.join(names)} ADD BindingCount :minus",
                ConditionExpression=present,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":minus": {"N": str(-len(chunk))}},
            )
        return plan, len(chunk)

    def _erasure_causes(self, bindings: list[Binding], now: float) -> dict[str, Removal | None]:
        """Why an erasure removes each binding, by SID: ERASED for a live one; EXPIRED for an
        expired one whose address item still holds it, None when TTL (or a create) took that.
        Finding out reads the expired ones' address items: one round trip, when there are any."""
        causes: dict[str, Removal | None] = {
            binding.sid: Removal.ERASED for binding in bindings if not binding.expired_at(now)
        }
        lapsed = [binding for binding in bindings if binding.sid not in causes]
        if lapsed:
            keys = [_address_key(binding.service_sid, binding.address) for binding in lapsed]
            read = batch_get(self._client, {self._bindings_table: keys}, self._retries())
            held = {item["Sid"]["S"] for item in read[self._bindings_table]}
            causes.update(
                (binding.sid, Removal.EXPIRED if binding.sid in held else None)
                for binding in lapsed
            )
        return causes

    def _delete_emptied_record(self, service_sid: str, identity: str) -> None:
        try:
            write_item(
                lambda: self._client.delete_item(
                    TableName=self._index_table,
                    Key=_identity_key(service_sid, identity),
                    ConditionExpression="BindingCount = :none",
                    ExpressionAttributeValues={":none": {"N": "0"}},
                ),
                self._retries(),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # A binding came meanwhile: the record is a live identity's again.

    def purge_some(self, service_sid: str) -> bool:
        """Delete up to a page of a deleted Service's bindings; True once none are left.

        Each call starts again from whatever remains, so it is idempotent and can stop
        anywhere. Within a page the tag and address items go before the SID items, which are
        how the next call finds them: an interrupted page is found again, not orphaned.
        """
        with translated_errors():
            response = self._client.query(
                TableName=self._index_table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": service_sid}},
                ConsistentRead=True,
                Limit=_PURGE_PAGE,
            )
        bindings = [_binding_from(item) for item in response.get("Items", [])]
        if bindings:
            around = [
                (self._index_table, key) for binding in bindings for key in _index_keys(binding)[1:]
            ]
            around += [
                (self._bindings_table, _address_key(b.service_sid, b.address)) for b in bindings
            ]
            batch_write_deletes(self._client, around, self._retries())
            batch_write_deletes(
                self._client,
                [(self._index_table, _sid_key(service_sid, b.sid)) for b in bindings],
                self._retries(),
            )
            return False
        with translated_errors():
            response = self._client.query(
                TableName=self._index_table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"{service_sid}#identity"}},
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
                Limit=_PURGE_PAGE,
            )
        records = response.get("Items", [])
        with translated_errors():
            response = self._client.query(
                TableName=self._index_table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _removals_partition(service_sid)}},
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
                Limit=_PURGE_PAGE,
            )
        removals = response.get("Items", [])
        keys = [*records, *removals, _stats_key(service_sid)]  # no binding is left to count
        batch_write_deletes(
            self._client, [(self._index_table, key) for key in keys], self._retries()
        )
        return not records and not removals

    def _guard_service(self, plan: Transaction, account_sid: str, service_sid: str) -> int:
        return plan.add(
            "ConditionCheck",
            self._services_table,
            Key=service_key(account_sid, service_sid),
            ConditionExpression=LIVE,
        )

    def _add_to_index(self, plan: Transaction, binding: Binding) -> None:
        attributes = _binding_attributes(binding)
        for key in _index_keys(binding):
            plan.add("Put", self._index_table, Item={**key, **attributes})

    def _remove_from_index(self, plan: Transaction, binding: Binding) -> None:
        for key in _index_keys(binding):
            plan.add("Delete", self._index_table, Key=key)

    def _remove_binding(
        self, plan: Transaction, binding: Binding, removal: Removal, detail: str | None = None
    ) -> int:
        """Its address item (while it still holds it) and its index items, and a removal item
        that says why; the index of the address item's delete, whose condition fails if the
        binding was replaced meanwhile."""
        guard = plan.add(
            "Delete",
            self._bindings_table,
            Key=_address_key(binding.service_sid, binding.address),
            **_holds(binding),
        )
        self._remove_from_index(plan, binding)
        plan.add("Put", self._index_table, Item=_removal_item(binding, removal, detail))
        return guard

    def _count_many_tags(self, plan: Transaction, service_sid: str, change: int) -> None:
        if change:
            plan.add(
                "Update",
                self._index_table,
                Key=_stats_key(service_sid),
                UpdateExpression="ADD ManyTagBindings :change",
                ExpressionAttributeValues={":change": {"N": str(change)}},
            )

    def _grow_identity(self, plan: Transaction, binding: Binding) -> int:
        """The identity record takes a copy of `binding` and counts it, below the limit."""
        return plan.add(
            "Update",
            self._index_table,
            Key=_identity_key(binding.service_sid, binding.identity),
            UpdateExpression="SET #new = :binding ADD BindingCount :one",
            ConditionExpression="attribute_not_exists(BindingCount) OR BindingCount < :limit",
            ExpressionAttributeNames={"#new": binding.sid},
            ExpressionAttributeValues={
                ":binding": {"M": _binding_attributes(binding)},
                ":one": {"N": "1"},
                ":limit": {"N": str(MAX_BINDINGS_PER_IDENTITY)},
            },
        )

    def _swap_copy(
        self, plan: Transaction, new: Binding, old: Binding, *, at_limit: bool = False
    ) -> int:
        """The identity record trades `old`'s copy for `new`'s: its count stays (at the limit,
        for a binding that displaces another)."""
        condition = "attribute_exists(#old)"
        values: Item = {":binding": {"M": _binding_attributes(new)}}
        if at_limit:
            condition += " AND BindingCount >= :limit"
            values[":limit"] = {"N": str(MAX_BINDINGS_PER_IDENTITY)}
        return plan.add(
            "Update",
            self._index_table,
            Key=_identity_key(new.service_sid, new.identity),
            UpdateExpression="SET #new = :binding REMOVE #old",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#new": new.sid, "#old": old.sid},
            ExpressionAttributeValues=values,
        )

    def _shrink_identity(self, plan: Transaction, binding: Binding) -> int:
        """The identity record gives up `binding`: its copy, and one from its count (to 0 for
        the identity's last binding; the record stays, see the module's docstring)."""
        return plan.add(
            "Update",
            self._index_table,
            Key=_identity_key(binding.service_sid, binding.identity),
            UpdateExpression="REMOVE #old ADD BindingCount :minus_one",
            ConditionExpression="attribute_exists(#old)",
            ExpressionAttributeNames={"#old": binding.sid},
            ExpressionAttributeValues={":minus_one": {"N": "-1"}},
        )


# -- items -------------------------------------------------------------------------------


def _address_key(service_sid: str, address: str) -> Item:
    return {"ServiceSid": {"S": service_sid}, "Address": {"S": address}}


def _sid_key(service_sid: str, sid: str) -> Item:
    return {"pk": {"S": service_sid}, "sk": {"S": sid}}


def _identity_key(service_sid: str, identity: str) -> Item:
    return {"pk": {"S": f"{service_sid}#identity"}, "sk": {"S": identity}}


def _tags_partition(service_sid: str, tags: list[str] | tuple[str, ...]) -> str:
    """The index partition of the bindings that have all of `tags` (sorted, without `all`)."""
    if not tags:
        return service_sid
    if len(tags) == 1:
        return f"{service_sid}#tag#{tags[0]}"
    # JSON: unambiguous whatever the tags hold, and readable in the console.
    return f"{service_sid}#tags#{json.dumps(list(tags), ensure_ascii=False, separators=(',', ':'))}"


def _removals_partition(service_sid: str) -> str:
    return f"{service_sid}#removed"


def removal_key(service_sid: str, sid: str) -> Item:
    """The key of the item that records why binding `sid` was removed."""
    return {"pk": {"S": _removals_partition(service_sid)}, "sk": {"S": sid}}


def _removal_item(binding: Binding, removal: Removal, detail: str | None) -> Item:
    item: Item = {
        **removal_key(binding.service_sid, binding.sid),
        "Removal": {"S": removal.value},
        "RemoveAfter": {"N": str(int(time.time()) + REMOVAL_RECORD_SECONDS)},
    }
    if detail is not None:
        item["Detail"] = {"S": detail}
    return item


def _expiry_moves(current: Binding, expires_at: int | None) -> bool:
    """Whether an unchanged re-create moves the binding's expiry (see EXPIRY_REFRESH_SECONDS)."""
    if current.expires_at is None or expires_at is None:
        return current.expires_at != expires_at
    return abs(expires_at - current.expires_at) >= EXPIRY_REFRESH_SECONDS


def _many_tags_partition(service_sid: str) -> str:
    return f"{service_sid}#many-tags"


def _stats_key(service_sid: str) -> Item:
    return {"pk": {"S": f"{service_sid}#stats"}, "sk": {"S": "many-tags"}}


def _has_many_tags(binding: Binding | None) -> int:
    """1 when the binding has too many index tags to be listed under their combinations."""
    return int(binding is not None and len(binding.index_tags()) > MAX_COMBINED_TAGS)


def _many_tag_bindings(stats: list[Item]) -> int:
    return sum(int(item.get("ManyTagBindings", {}).get("N", "0")) for item in stats)


def _index_keys(binding: Binding) -> list[Item]:
    """The SID item's key first, then every tag, combination and many-tags item's."""
    service_sid, sid = binding.service_sid, binding.sid
    tags = sorted(binding.index_tags())
    partitions = [_tags_partition(service_sid, [tag]) for tag in tags]
    if _has_many_tags(binding):
        partitions.append(_many_tags_partition(service_sid))
    else:
        partitions += [
            _tags_partition(service_sid, combination)
            for size in range(2, len(tags) + 1)
            for combination in combinations(tags, size)
        ]
    return [_sid_key(service_sid, sid)] + [
        {"pk": {"S": partition}, "sk": {"S": sid}} for partition in partitions
    ]


def _tag_filter(tags: list[str], values: dict[str, AttributeValue]) -> str | None:
    """A filter for bindings with all of `tags`; their values go into `values`."""
    types = {kind.value for kind in BindingType}
    clauses = []
    for position, tag in enumerate(tags):
        placeholder = f":tag{position}"
        values[placeholder] = {"S": tag}
        clause = f"contains(Tags, {placeholder})"
        if tag in types:
            clause = f"({clause} OR BindingType = {placeholder})"
        clauses.append(clause)
    return " AND ".join(clauses) or None


def _holds(binding: Binding | None) -> dict[str, Any]:
    """The condition that the address item is still what we read: `binding`, or nothing."""
    if binding is None:
        return {"ConditionExpression": "attribute_not_exists(Address)"}
    return {
        "ConditionExpression": "Sid = :sid",
        "ExpressionAttributeValues": {":sid": {"S": binding.sid}},
    }


def _address_item(binding: Binding) -> Item:
    return {
        **_address_key(binding.service_sid, binding.address),
        **_binding_attributes(binding),
        "ServiceIdentity": {"S": f"{binding.service_sid}#{binding.identity}"},
    }


def _binding_attributes(binding: Binding) -> Item:
    attributes: Item = {
        "Sid": {"S": binding.sid},
        "AccountSid": {"S": binding.account_sid},
        "ServiceSid": {"S": binding.service_sid},
        "Identity": {"S": binding.identity},
        "BindingType": {"S": binding.binding_type.value},
        "Address": {"S": binding.address},
        "Tags": {"L": [{"S": tag} for tag in binding.tags]},
        "DateCreated": {"S": binding.date_created.isoformat(timespec="milliseconds")},
    }
    if binding.credential_sid is not None:
        attributes["CredentialSid"] = {"S": binding.credential_sid}
    if binding.notification_protocol_version is not None:
        attributes["NotificationProtocolVersion"] = {"S": binding.notification_protocol_version}
    if binding.expires_at is not None:
        # On every item, so that every read can leave the binding out once it has expired; it
        # is the TTL attribute of the bindings table alone (see the module's docstring).
        attributes["ExpiresAt"] = {"N": str(binding.expires_at)}
    return attributes


def _binding_from(item: Item) -> Binding:
    return Binding(
        sid=item["Sid"]["S"],
        account_sid=item["AccountSid"]["S"],
        service_sid=item["ServiceSid"]["S"],
        identity=item["Identity"]["S"],
        binding_type=BindingType(item["BindingType"]["S"]),
        address=item["Address"]["S"],
        tags=tuple(tag["S"] for tag in item["Tags"]["L"]),
        credential_sid=item.get("CredentialSid", {}).get("S"),
        notification_protocol_version=item.get("NotificationProtocolVersion", {}).get("S"),
        date_created=datetime.fromisoformat(item["DateCreated"]["S"]),
        expires_at=int(item["ExpiresAt"]["N"]) if "ExpiresAt" in item else None,
    )


def binding_from(item: Item) -> Binding:
    """The binding an item of the bindings table holds (a stream record's image, say)."""
    return _binding_from(item)


def _bindings_in_record(record: Item) -> Iterator[Binding]:
    for name, value in record.items():
        if name.startswith("BS"):
            yield _binding_from(value["M"])


def _sid(binding: Binding) -> str:
    return binding.sid


def _user_from(account_sid: str, service_sid: str, records: list[Item], now: float) -> User | None:
    """The User an identity record makes at `now`: None for no record, or one with no binding
    left that has not expired (emptied by deletes, say)."""
    # Imported here: only the Users functions build Users, and its module builds their models.
    from notify_bindings.user_models import User

    if not records:
        return None
    live = (binding for binding in _bindings_in_record(records[0]) if not binding.expired_at(now))
    bindings = tuple(sorted(live, key=_sid))
    if not bindings:
        return None
    return User(account_sid, service_sid, records[0]["sk"]["S"], bindings)


def _displaced(
    records: list[Item], new: Binding, service: Service, readdressed: set[str]
) -> _Displaced | None:
    """Which binding of an identity at its limit gives up its place to `new`: an expired one
    (the oldest of them), else the oldest under evict_oldest; None when a place is free.
    IdentityLimitExceeded when live bindings hold every place and the Service rejects.
    SIDs begin with their creation time, so the smallest is the oldest."""
    bindings = list(_bindings_in_record(records[0])) if records else []
    if len(bindings) < MAX_BINDINGS_PER_IDENTITY:
        return None
    moment = new.date_created.timestamp()
    expired = [binding for binding in bindings if binding.expired_at(moment)]
    if expired:
        oldest = min(expired, key=_sid)
        return _Displaced(oldest, Removal.EXPIRED, oldest.sid in readdressed)
    if service.identity_binding_limit_policy != _EVICT_OLDEST:
        raise IdentityLimitExceeded(MAX_BINDINGS_PER_IDENTITY)
    return _Displaced(min(bindings, key=_sid), Removal.EVICTED)


def _visible(binding: Binding, found: _Found) -> bool:
    """Whether a reader may see the binding: not once it has expired, nor while its identity
    is being erased."""
    return binding.identity not in found.erasing and not binding.expired_at(found.now)


def _hidden(found: _Found, values: Item) -> tuple[str, dict[str, str]]:
    """A filter that leaves out what `_visible` hides, and its attribute names (its values go
    into `values`)."""
    # ExpiresAt holds whole seconds: expired by `now` is ExpiresAt <= floor(now).
    values[":now"] = {"N": str(math.floor(found.now))}
    clauses = ["(attribute_not_exists(#expires) OR #expires > :now)"]
    names = {"#expires": "ExpiresAt"}
    for position, identity in enumerate(sorted(found.erasing)):
        values[f":erasing{position}"] = {"S": identity}
        clauses.append(f"#identity <> :erasing{position}")
        names["#identity"] = "Identity"
    return " AND ".join(clauses), names
