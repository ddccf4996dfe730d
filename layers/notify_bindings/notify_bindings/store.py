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
reads and filters that partition too: its cost then grows with the number of such bindings.

Every item that describes a binding carries the same attributes, so any of them answers a read.
Every operation reads the caller's Service in the same round trip as the binding, and every
write checks it in the same transaction: a binding is only ever seen through a live Service of
the caller's account.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from itertools import combinations
from typing import Any

from notify_bindings.dynamo import (
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
)
from notify_bindings.errors import IdentityLimitExceeded, Unavailable
from notify_bindings.models import (
    IMPLICIT_TAG_ALL,
    MAX_BINDINGS_PER_IDENTITY,
    MAX_TAG_FILTERS,
    Binding,
    BindingFilters,
    BindingType,
)
from notify_bindings.service_models import Service
from notify_bindings.service_store import LIVE, service_from, service_key
from notify_bindings.sids import first_binding_sid_on, last_binding_sid_on
from notify_bindings.tokens import Direction, PageCursor

_PURGE_PAGE = 100
# A binding with at most this many index tags is listed under every combination of them. It is
# the most tags a list can filter by, so that every list by tags names one partition.
MAX_COMBINED_TAGS = MAX_TAG_FILTERS


class MissingService(Exception):
    """No such Service in the caller's account (or it is being deleted)."""


class Outcome(Enum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class PutResult:
    binding: Binding
    outcome: Outcome


class BindingStore:
    def __init__(
        self,
        client: DynamoDBClient,
        bindings_table: str,
        index_table: str,
        services_table: str,
        *,
        retries: Callable[[], Retries] = Retries,
    ) -> None:
        self._client = client
        self._bindings_table = bindings_table
        self._index_table = index_table
        self._services_table = services_table
        self._retries = retries

    # -- reads ---------------------------------------------------------------------------

    def get(self, account_sid: str, service_sid: str, sid: str) -> Binding | None:
        """The binding, if it exists in a live Service of the account: one round trip."""
        found = self._read_with_service(
            account_sid, service_sid, self._index_table, [_sid_key(service_sid, sid)]
        )
        if found is None:
            return None
        _, items = found
        return _binding_from(items[0]) if items else None

    def list_page(
        self,
        account_sid: str,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        size: int,
    ) -> Page[Binding]:
        if filters.identities:
            keys = [_identity_key(service_sid, identity) for identity in filters.identities]
            found = self._read_with_service(account_sid, service_sid, self._index_table, keys)
            if found is None:
                raise MissingService()
            bindings = sorted(
                (
                    binding
                    for record in found[1]
                    for binding in _bindings_in_record(record)
                    if binding.matches(filters)
                ),
                key=lambda binding: binding.sid,
            )
            return window(bindings, lambda binding: binding.sid, cursor, size)

        tags = sorted(set(filters.tags) - {IMPLICIT_TAG_ALL})
        several = len(tags) > 1
        stats = [_stats_key(service_sid)] if several else []
        found = self._read_with_service(account_sid, service_sid, self._index_table, stats)
        if found is None:
            raise MissingService()
        # Every binding SID sorts between "BS" and "BT".
        low = first_binding_sid_on(filters.start_date) if filters.start_date else "BS"
        high = last_binding_sid_on(filters.end_date) if filters.end_date else "BT"
        scope = KeyRange(
            self._index_table, ("pk", _tags_partition(service_sid, tags)), "sk", low, high
        )
        page = query_page(self._client, scope, cursor, size, _binding_from)
        if not several or not _many_tag_bindings(found[1]):
            return page
        values: Item = {}
        many = KeyRange(
            self._index_table,
            ("pk", _many_tags_partition(service_sid)),
            "sk",
            low,
            high,
            filter_expression=_tag_filter(tags, values),
            filter_values=values,
        )
        others = query_page(self._client, many, cursor, size, _binding_from)
        forward = cursor is None or cursor.direction is Direction.AFTER
        return merged([page, others], lambda binding: binding.sid, size, forward=forward)

    def _read_with_service(
        self, account_sid: str, service_sid: str, table: str, keys: list[Item]
    ) -> tuple[Service, list[Item]] | None:
        """The live Service and the items at `keys`, read together; None without the Service."""
        first, rest = keys[:99], keys[99:]
        found = batch_get(
            self._client,
            {self._services_table: [service_key(account_sid, service_sid)], table: first},
            self._retries(),
        )
        services = found[self._services_table]
        service = service_from(services[0]) if services else None
        if service is None:
            return None
        items = found[table]
        for start in range(0, len(rest), 100):
            items += batch_get(self._client, {table: rest[start : start + 100]}, self._retries())[
                table
            ]
        return service, items

    # -- writes --------------------------------------------------------------------------

    def put(
        self,
        account_sid: str,
        service_sid: str,
        address: str,
        make: Callable[[Service], Binding],
    ) -> PutResult:
        """Create the binding `make` builds for the Service, replacing whatever binding holds
        its address there. Raises MissingService when the Service is not the account's."""
        retries = self._retries()
        attempted: dict[str, Outcome] = {}  # SIDs of transactions whose outcome is unknown
        while retries.remain():
            found = self._read_with_service(
                account_sid, service_sid, self._bindings_table, [_address_key(service_sid, address)]
            )
            if found is None:
                raise MissingService()
            service, items = found
            current = _binding_from(items[0]) if items else None
            if current is not None and current.sid in attempted:
                return PutResult(current, attempted[current.sid])  # it did happen
            new = make(service)
            if current is not None and current.registers_same_as(new):
                return PutResult(current, Outcome.UNCHANGED)

            plan = Transaction()
            service_guard = self._guard_service(plan, account_sid, service_sid)
            address_guard = plan.add(
                "Put",
                self._bindings_table,
                Item=_address_item(new),
                **_holds(current),
            )
            if current is not None:
                self._remove_from_index(plan, current)
            self._add_to_index(plan, new)
            self._count_many_tags(plan, service_sid, _has_many_tags(new) - _has_many_tags(current))
            moved_at = grow_at = shrink_at = None
            if current is not None and current.identity == new.identity:
                moved_at = plan.add(
                    "Update",
                    self._index_table,
                    Key=_identity_key(new.service_sid, new.identity),
                    UpdateExpression="SET #new = :binding REMOVE #old",
                    ConditionExpression="attribute_exists(#old)",
                    ExpressionAttributeNames={"#new": new.sid, "#old": current.sid},
                    ExpressionAttributeValues={":binding": {"M": _binding_attributes(new)}},
                )
            else:
                grow_at = plan.add(
                    "Update",
                    self._index_table,
                    Key=_identity_key(new.service_sid, new.identity),
                    UpdateExpression="SET #new = :binding ADD BindingCount :one",
                    ConditionExpression=(
                        "attribute_not_exists(BindingCount) OR BindingCount < :limit"
                    ),
                    ExpressionAttributeNames={"#new": new.sid},
                    ExpressionAttributeValues={
                        ":binding": {"M": _binding_attributes(new)},
                        ":one": {"N": "1"},
                        ":limit": {"N": str(MAX_BINDINGS_PER_IDENTITY)},
                    },
                )
                if current is not None:
                    shrink_at = self._shrink_identity(plan, current)

            outcome = Outcome.CREATED if current is None else Outcome.REPLACED
            try:
                plan.run(self._client)
            except Cancelled as cancelled:
                changed = (service_guard, address_guard, moved_at, shrink_at)
                if any(cancelled.failed(at) for at in changed):
                    retries.lost_race()  # the Service or the address changed: look again
                    continue
                if cancelled.failed(grow_at):
                    raise IdentityLimitExceeded(MAX_BINDINGS_PER_IDENTITY) from None
                retries.failed(throttled=cancelled.throttled)
                continue
            except Unavailable:
                attempted[new.sid] = outcome  # it may have happened: the next look tells
                retries.failed()
                continue
            return PutResult(new, outcome)
        raise retries.exhausted()

    def delete(self, account_sid: str, service_sid: str, sid: str) -> Binding | None:
        """Delete the binding; None when there is no such binding (any more)."""
        retries = self._retries()
        deleting: Binding | None = None  # set once a transaction's outcome is unknown
        while retries.remain():
            current = self.get(account_sid, service_sid, sid)
            if current is None:
                return deleting  # the delete may have been ours: either way it is gone
            plan = Transaction()
            service_guard = self._guard_service(plan, account_sid, service_sid)
            address_guard = plan.add(
                "Delete",
                self._bindings_table,
                Key=_address_key(current.service_sid, current.address),
                **_holds(current),
            )
            self._remove_from_index(plan, current)
            self._count_many_tags(plan, service_sid, -_has_many_tags(current))
            shrink_at = self._shrink_identity(plan, current)
            try:
                plan.run(self._client)
            except Cancelled as cancelled:
                if any(cancelled.failed(at) for at in (service_guard, address_guard, shrink_at)):
                    continue  # deleted or replaced meanwhile: the next look finds it gone
                retries.failed(throttled=cancelled.throttled)
                continue
            except Unavailable:
                deleting = current  # it may have happened: the next look tells
                retries.failed()
                continue
            return current
        raise retries.exhausted()

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
        keys = [*records, _stats_key(service_sid)]  # no binding is left to count
        batch_write_deletes(
            self._client, [(self._index_table, key) for key in keys], self._retries()
        )
        return not records

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

    def _count_many_tags(self, plan: Transaction, service_sid: str, change: int) -> None:
        if change:
            plan.add(
                "Update",
                self._index_table,
                Key=_stats_key(service_sid),
                UpdateExpression="ADD ManyTagBindings :change",
                ExpressionAttributeValues={":change": {"N": str(change)}},
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
    )


def _bindings_in_record(record: Item) -> Iterator[Binding]:
    for name, value in record.items():
        if name.startswith("BS"):
            yield _binding_from(value["M"])
