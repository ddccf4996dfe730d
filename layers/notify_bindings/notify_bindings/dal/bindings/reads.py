"""Reads of bindings: by SID, the lists - each strategy its own unit - and Users.

Every read reads the caller's Service in the same round trip as the bindings (or before its
query), and leaves out what a reader may not see: bindings that have expired by the moment of
the read, and those of identities being erased (see `store.py`'s docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from notify_bindings.dal.bindings.items import (
    ERASING,
    Tables,
    address_key,
    binding_from,
    bindings_in_record,
    by_sid,
    identities_partition,
    identity_key,
    many_tag_bindings,
    many_tags_partition,
    sid_key,
    stats_key,
    tag_filter,
    tags_partition,
    user_from,
)
from notify_bindings.dal.dynamo import (
    BATCH_GET_LIMIT,
    DynamoDBClient,
    Item,
    KeyRange,
    Retries,
    batch_get,
    query_page,
)
from notify_bindings.dal.services import service_from, service_key
from notify_bindings.domain.bindings import IMPLICIT_TAG_ALL, Binding, BindingFilters
from notify_bindings.domain.paging import (
    Direction,
    KeyCursor,
    Page,
    PageCursor,
    forward,
    merged,
    spanned,
    window,
)
from notify_bindings.domain.services import MissingService, Service
from notify_bindings.domain.users import User
from notify_bindings.platform.sids import first_binding_sid_on, last_binding_sid_on


class ReadBudgets(NamedTuple):
    """How much a page may read beyond what it returns, so that no page's cost grows with what
    it leaves out. A page that meets more ends short, with a next_page_url past what it read.

    - skipped: items of a list it leaves out (expired bindings TTL has not deleted yet, those
      of identities being erased);
    - many_tags: items of the many-tags partition a list by several tags reads (and filters);
    - emptied_users: identity records a page of Users skips (emptied by deletes, or holding
      only expired bindings).
    """

    skipped: int = 1000
    many_tags: int = 1000
    emptied_users: int = 100


class Found(NamedTuple):
    """What a read with the Service found: the live Service, the identities being erased
    (their bindings are gone to every reader), and the items read beside it, by table."""

    service: Service
    erasing: frozenset[str]
    now: float  # when it was read (epoch seconds): bindings expired by then are gone
    items: dict[str, list[Item]]

    def visible(self, binding: Binding) -> bool:
        """Whether a reader may see the binding: not once it has expired, nor while its
        identity is being erased."""
        return binding.identity not in self.erasing and not binding.expired_at(self.now)

    def hiding(self, values: Item) -> tuple[str, dict[str, str]]:
        """A filter that leaves out what `visible` hides, and its attribute names (its values
        go into `values`)."""
        # ExpiresAt holds whole seconds: expired by `now` is ExpiresAt <= floor(now).
        values[":now"] = {"N": str(math.floor(self.now))}
        clauses = ["(attribute_not_exists(#expires) OR #expires > :now)"]
        names = {"#expires": "ExpiresAt"}
        for position, identity in enumerate(sorted(self.erasing)):
            values[f":erasing{position}"] = {"S": identity}
            clauses.append(f"#identity <> :erasing{position}")
            names["#identity"] = "Identity"
        return " AND ".join(clauses), names


class Reader:
    def __init__(
        self,
        client: DynamoDBClient,
        tables: Tables,
        *,
        retries: Callable[[], Retries],
        clock: Callable[[], float],
        budgets: ReadBudgets,
    ) -> None:
        self._client = client
        self._tables = tables
        self._retries = retries
        self._clock = clock
        self._budgets = budgets

    def with_service(
        self, account_sid: str, service_sid: str, keys: dict[str, list[Item]]
    ) -> Found | None:
        """The live Service and the items at `keys` (by table), read together (more than 99
        keys take more round trips); None without the Service."""
        wanted = [(table, key) for table, table_keys in keys.items() for key in table_keys]
        first, rest = wanted[: BATCH_GET_LIMIT - 1], wanted[BATCH_GET_LIMIT - 1 :]
        services = self._tables.services
        batch: dict[str, list[Item]] = {services: [service_key(account_sid, service_sid)]}
        for table, key in first:
            batch.setdefault(table, []).append(key)
        now = self._clock()
        found = batch_get(self._client, batch, self._retries())
        service_items = found.pop(services)
        service = service_from(service_items[0]) if service_items else None
        if service is None:
            return None
        items = {table: found.get(table, []) for table in keys}
        for start in range(0, len(rest), BATCH_GET_LIMIT):
            more: dict[str, list[Item]] = {}
            for table, key in rest[start : start + BATCH_GET_LIMIT]:
                more.setdefault(table, []).append(key)
            for table, read in batch_get(self._client, more, self._retries()).items():
                items[table] += read
        erasing = frozenset(service_items[0].get(ERASING, {}).get("SS", []))
        return Found(service, erasing, now, items)

    def service_found(
        self, account_sid: str, service_sid: str, keys: dict[str, list[Item]]
    ) -> Found:
        """As `with_service`, raising MissingService without the Service."""
        found = self.with_service(account_sid, service_sid, keys)
        if found is None:
            raise MissingService()
        return found

    def get(self, account_sid: str, service_sid: str, sid: str) -> Binding | None:
        """The binding, if it exists in a live Service of the account: one round trip."""
        index = self._tables.index
        found = self.with_service(account_sid, service_sid, {index: [sid_key(service_sid, sid)]})
        if found is None:
            return None
        items = found.items[index]
        binding = binding_from(items[0]) if items else None
        return binding if binding is not None and found.visible(binding) else None

    def at_address(
        self, account_sid: str, service_sid: str, address: str
    ) -> tuple[Found, list[Binding]]:
        """What the address item holds (a binding, visible or not, or nothing), read with the
        Service: MissingService without it."""
        bindings = self._tables.bindings
        found = self.service_found(
            account_sid, service_sid, {bindings: [address_key(service_sid, address)]}
        )
        return found, [binding_from(item) for item in found.items[bindings]]

    # -- lists: a strategy per kind of filter ---------------------------------------------

    def list_page(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        size: int,
    ) -> Page[Binding]:
        if filters.address is not None:
            return self.page_by_address(
                account_sid, service_sid, filters.address, filters, cursor, size
            )
        if filters.identities:
            return self.page_by_identities(account_sid, service_sid, filters, cursor, size)
        return self.page_by_tags(account_sid, service_sid, filters, cursor, size)

    def recipients_page(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        after: str | None,
        size: int,
    ) -> Page[Binding]:
        """A page of a notification's recipients, forwards from just after SID `after`: as
        `list_page`'s, except that a page by several tags holds every binding within the span
        of SIDs it read (`spanned`), `size` and more. A list's page stops at `size` and leaves
        the many-tags bindings past its last one to be read again by the next page; here each
        item is read once in a whole resolution."""
        cursor = None if after is None else PageCursor(Direction.AFTER, after)
        if filters.identities or filters.address is not None:
            return self.list_page(account_sid, service_sid, filters, cursor, size)
        return self.page_by_tags(account_sid, service_sid, filters, cursor, size, whole_span=True)

    def page_by_address(
        self,
        account_sid: str,
        service_sid: str,
        address: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        size: int,
    ) -> Page[Binding]:
        """The address is the bindings table's key: one read, whatever else is asked."""
        found, held = self.at_address(account_sid, service_sid, address)
        matching = [b for b in held if b.matches(filters) and found.visible(b)]
        return window(matching, by_sid, cursor, size)

    def page_by_identities(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        size: int,
    ) -> Page[Binding]:
        """Each identity record holds a copy of each of its bindings: one strongly consistent
        BatchGetItem (more for more than 99 identities), filtered in memory."""
        index = self._tables.index
        keys = [identity_key(service_sid, identity) for identity in filters.identities]
        found = self.service_found(account_sid, service_sid, {index: keys})
        bindings = sorted(
            (
                binding
                for record in found.items[index]
                for binding in bindings_in_record(record)
                if binding.matches(filters) and found.visible(binding)
            ),
            key=by_sid,
        )
        return window(bindings, by_sid, cursor, size)

    def page_by_tags(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        size: int,
        *,
        whole_span: bool = False,
    ) -> Page[Binding]:
        """The index partition of exactly the tags asked for (all bindings for none), in SID
        order within the dates; and, for several tags in a Service that has bindings with
        too many tags to be listed under their combinations, the many-tags partition too,
        filtered, within its read budget, over the span of SIDs the first can fill the page
        with (`_within_page`). With `whole_span` (forwards only), the page keeps every binding
        of that span rather than the first `size`."""
        index = self._tables.index
        tags = sorted(set(filters.tags) - {IMPLICIT_TAG_ALL})
        several = len(tags) > 1
        stats = [stats_key(service_sid)] if several else []
        found = self.service_found(account_sid, service_sid, {index: stats})
        hidden: Item = {}
        hiding, names = found.hiding(hidden)
        low, high = _created_within(filters)
        scope = KeyRange(
            index,
            ("pk", tags_partition(service_sid, tags)),
            "sk",
            low,
            high,
            filter_expression=hiding,
            filter_values=hidden,
            filter_names=names,
        )
        budget = size + 1 + self._budgets.skipped
        page = query_page(self._client, scope, cursor, size, binding_from, read_budget=budget)
        if not several or not many_tag_bindings(found.items[index]):
            return page
        values: Item = {**hidden}
        wanted = tag_filter(tags, values)
        low, high = _within_page(page, size, forward(cursor), low, high)
        many = KeyRange(
            index,
            ("pk", many_tags_partition(service_sid)),
            "sk",
            low,
            high,
            filter_expression=f"{wanted} AND {hiding}",
            filter_values=values,
            filter_names=names,
        )
        others = query_page(
            self._client, many, cursor, size, binding_from, read_budget=self._budgets.many_tags
        )
        if whole_span:
            return spanned([page, others], by_sid)
        return merged([page, others], by_sid, size, forward=forward(cursor))

    # -- Users ----------------------------------------------------------------------------

    def get_user(self, account_sid: str, service_sid: str, identity: str) -> User | None:
        """The identity's bindings, if it has any in a live Service of the account: one
        round trip."""
        index = self._tables.index
        keys = {index: [identity_key(service_sid, identity)]}
        found = self.with_service(account_sid, service_sid, keys)
        if found is None or identity in found.erasing:
            return None
        return user_from(account_sid, service_sid, found.items[index], found.now)

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
        index = self._tables.index
        keys = {index: [identity_key(service_sid, identity)]}
        found = self.service_found(account_sid, service_sid, keys)
        user = None
        if identity not in found.erasing:
            user = user_from(account_sid, service_sid, found.items[index], found.now)
        if user is None:
            return None
        selected = [binding for binding in user.bindings if binding.matches(filters)]
        return window(selected, by_sid, cursor, size)

    def list_users_page(
        self, account_sid: str, service_sid: str, cursor: KeyCursor | None, size: int
    ) -> Page[User]:
        """A page of the Service's identities that have bindings, by identity.

        Identity records emptied by deletes stay (see `store.py`'s docstring) and are skipped
        by a filter; a page reads at most ReadBudgets.emptied_users of them beyond what it
        returns, and ends short (with a cursor past the last record it read) when it meets
        more: its cost never grows with the number of emptied records.
        """
        found = self.service_found(account_sid, service_sid, {})
        scope = KeyRange(
            self._tables.index,
            ("pk", identities_partition(service_sid)),
            "sk",
            filter_expression="BindingCount > :none",
            filter_values={":none": {"N": "0"}},
        )

        def user(record: Item) -> User | None:
            if record["sk"]["S"] in found.erasing:
                return None
            return user_from(account_sid, service_sid, [record], found.now)

        budget = size + 1 + self._budgets.emptied_users
        return query_page(self._client, scope, cursor, size, user, read_budget=budget)


def _within_page(
    page: Page[Binding], size: int, ahead: bool, low: str, high: str
) -> tuple[str, str]:
    """The SIDs the many-tags partition can add to a page of the combination's partition.

    When that page is full (or cut short by its read budget), the merged page ends at or
    before its last SID (its first, reading backwards): nothing beyond can be on it, so the
    many-tags partition is read only up to there, and a page's cost follows the span of SIDs
    it covers rather than the whole Service. A short page covers the rest of the range."""
    if ahead:
        if page.last_key is not None:
            return low, min(high, page.last_key)
        if len(page.items) >= size and page.more_after:
            return low, min(high, page.items[-1].sid)
        return low, high
    if page.first_key is not None:
        return max(low, page.first_key), high
    if len(page.items) >= size and page.more_before:
        return max(low, page.items[0].sid), high
    return low, high


def _created_within(filters: BindingFilters) -> tuple[str, str]:
    """The range of the SIDs of bindings created within the filters' dates (SIDs begin with
    their creation time); every binding SID sorts between "BS" and "BT"."""
    low = first_binding_sid_on(filters.start_date) if filters.start_date else "BS"
    high = last_binding_sid_on(filters.end_date) if filters.end_date else "BT"
    return low, high
