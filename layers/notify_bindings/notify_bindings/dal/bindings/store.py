"""The binding store: the only code that reads or writes bindings. `BindingStore` is a facade
over its parts - `reads.py` (by SID, the lists, Users), `writes.py` (creates), `removals.py`
(deletes, dead addresses, erasures, the clean-up of expired bindings, why each went) and
`purge.py` (a deleted Service's bindings) - which share the items of `items.py` and build their
transactions with `plans.py`.

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
a page reads at most its budget of them (`ReadBudgets.many_tags`), and ends short (even empty)
with a cursor past what it read when they match too rarely.

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

The store's own records are named tuples and plain classes, not dataclasses: a dataclass
compiles its methods when its module is imported, a cost of every cold start of every function
that writes or reads bindings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from notify_bindings.dal.bindings.items import Tables
from notify_bindings.dal.bindings.purge import Purge
from notify_bindings.dal.bindings.reads import ReadBudgets, Reader
from notify_bindings.dal.bindings.removals import Removals
from notify_bindings.dal.bindings.writes import Writer
from notify_bindings.dal.dynamo import DynamoDBClient, Retries
from notify_bindings.domain.bindings import Binding, BindingFilters, PutResult, RemovalCause
from notify_bindings.domain.paging import KeyCursor, Page, PageCursor
from notify_bindings.domain.services import Service
from notify_bindings.domain.users import User


class Limits(NamedTuple):
    """How much one call may do: the read budgets of a page (`reads.ReadBudgets`), and how many
    bindings a purge takes per call. Tests pass small ones to reach the limits quickly."""

    reads: ReadBudgets = ReadBudgets()
    purge_page: int = 100


DEFAULT_LIMITS = Limits()


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
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        tables = Tables(bindings_table, index_table, services_table)
        self._reader = Reader(client, tables, retries=retries, clock=clock, budgets=limits.reads)
        self._removals = Removals(client, tables, self._reader, retries=retries, clock=clock)
        self._writer = Writer(
            client, tables, self._reader, self._removals, retries=retries, clock=clock
        )
        self._purge = Purge(client, tables, retries=retries, page_size=limits.purge_page)

    # -- reads (reads.py) -----------------------------------------------------------------

    def get(self, account_sid: str, service_sid: str, sid: str) -> Binding | None:
        """The binding, if it exists in a live Service of the account: one round trip."""
        return self._reader.get(account_sid, service_sid, sid)

    def list_page(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        size: int,
    ) -> Page[Binding]:
        """A page of the Service's bindings that match `filters`, in creation order. Raises
        MissingService when the Service is not the account's."""
        return self._reader.list_page(account_sid, service_sid, filters, cursor, size)

    def recipients_page(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        after: str | None,
        size: int,
    ) -> Page[Binding]:
        """A page of a notification's recipients, from just after SID `after` (None: the
        first): about `size` bindings, and every binding within the span of SIDs it read, so
        that a resolution reads each index item once. Raises MissingService as `list_page`."""
        return self._reader.recipients_page(account_sid, service_sid, filters, after, size)

    def get_user(self, account_sid: str, service_sid: str, identity: str) -> User | None:
        """The identity's bindings, if it has any in a live Service of the account."""
        return self._reader.get_user(account_sid, service_sid, identity)

    def list_user_bindings(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        size: int,
    ) -> Page[Binding] | None:
        """A page of one identity's bindings (`filters` names it); None when it has none."""
        return self._reader.list_user_bindings(account_sid, service_sid, filters, cursor, size)

    def list_users_page(
        self, account_sid: str, service_sid: str, cursor: KeyCursor | None, size: int
    ) -> Page[User]:
        """A page of the Service's identities that have bindings, by identity."""
        return self._reader.list_users_page(account_sid, service_sid, cursor, size)

    # -- writes (writes.py) ---------------------------------------------------------------

    def put(
        self,
        account_sid: str,
        service_sid: str,
        address: str,
        make: Callable[[Service], Binding],
    ) -> PutResult:
        """Create the binding `make` builds for the Service, replacing whatever binding holds
        its address there (see `Writer.put`)."""
        return self._writer.put(account_sid, service_sid, address, make)

    # -- removals (removals.py) -----------------------------------------------------------

    def delete(self, account_sid: str, service_sid: str, sid: str) -> Binding | None:
        """Delete the binding; None when there is no such binding (any more)."""
        return self._removals.delete(account_sid, service_sid, sid)

    def remove_dead_address(
        self,
        account_sid: str,
        service_sid: str,
        address: str,
        *,
        binding_sid: str | None = None,
        detail: str | None = None,
    ) -> Binding | None:
        """Delete the binding at an address a push service reported dead, while it holds it
        (see `Removals.remove_dead_address`)."""
        return self._removals.remove_dead_address(
            account_sid, service_sid, address, binding_sid=binding_sid, detail=detail
        )

    def erase(self, account_sid: str, service_sid: str, identity: str) -> bool:
        """Delete every binding of the identity (see `Removals.erase`)."""
        return self._removals.erase(account_sid, service_sid, identity)

    def forget_expired(self, binding: Binding) -> bool:
        """Remove what indexes and counts an expired binding (see `Removals.forget_expired`)."""
        return self._removals.forget_expired(binding)

    def removal_of(self, service_sid: str, sids: list[str]) -> dict[str, RemovalCause]:
        """Why each of these bindings was removed, for those whose removal recorded it."""
        return self._removals.removal_of(service_sid, sids)

    # -- purge (purge.py) -----------------------------------------------------------------

    def purge_some(self, service_sid: str) -> bool:
        """Delete up to a page of a deleted Service's bindings; True once none are left."""
        return self._purge.purge_some(service_sid)
