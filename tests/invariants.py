"""An audit of one Service's items against the invariants of design.md.

It reads the raw items of both tables, not the store's answers, and checks them against the item
layout that `notify_bindings.dal.bindings.store` documents:

- BindingsTable: one address item per address, holding the binding's attributes and
  `ServiceIdentity`;
- BindingIndexTable: for each binding, a SID item `(ServiceSid, Sid)` and one tag item
  `(ServiceSid#tag#<tag>, Sid)` per index tag (tags, plus the binding type, minus `all`); for a
  binding with at most MAX_COMBINED_TAGS index tags one combination item
  `(ServiceSid#tags#<JSON list of sorted tags>, Sid)` per combination of two or more of them,
  else one `(ServiceSid#many-tags, Sid)` item - all with the same attributes; a count of the
  many-tags items in `(ServiceSid#stats, many-tags)` (absent when 0); one identity record
  `(ServiceSid#identity, <identity>)` per identity that has bindings, with `BindingCount` and
  a copy of each binding under its SID. A record emptied by deletes (`BindingCount` 0, no
  copies, nothing else) is the same as no record. A removal item `(ServiceSid#removed, Sid)`
  per binding removed in the last two days, saying why (`Removal`), for none that still is.

Every item of a binding carries the same attributes, `ExpiresAt` among them when it expires. A
live binding (not expired at the audit's `now`) has all of its items. An expired one may be in
any state the store leaves it in: its address item there or not (TTL deletes it), and its index
items and copy (its "index") all there or all gone - they always go together.

Every problem found is reported at once, so a failure shows the whole damage.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from notify_bindings.dal.bindings.items import MAX_COMBINED_TAGS
from notify_bindings.domain.bindings import IMPLICIT_TAG_ALL, MAX_BINDINGS_PER_IDENTITY, Removal

Item = dict[str, Any]

_SID = re.compile(r"BS[0-9a-f]{32}")
_ADDRESS_ONLY = frozenset({"ServiceIdentity"})
_REMOVALS = frozenset(removal.value for removal in Removal)
_INDEX_KEY = frozenset({"pk", "sk"})
_REQUIRED = frozenset(
    {"Sid", "AccountSid", "ServiceSid", "Identity", "BindingType", "Address", "Tags", "DateCreated"}
)
_OPTIONAL = frozenset({"CredentialSid", "NotificationProtocolVersion", "ExpiresAt"})


@dataclass(frozen=True)
class ServiceAudit:
    """What a consistent Service holds, as the audit read it: its live bindings, and the
    expired ones not yet wholly cleaned up."""

    sid_by_address: dict[str, str]  # the live bindings
    sids_by_identity: dict[str, tuple[str, ...]]  # each identity's live binding SIDs, sorted
    # Expired bindings with items left: the SIDs of those whose address item is left, and of
    # those whose index (index items and copy) is left.
    expired_addressed: frozenset[str] = frozenset()
    expired_indexed: frozenset[str] = frozenset()

    @property
    def bindings_per_identity(self) -> dict[str, int]:
        return {identity: len(sids) for identity, sids in self.sids_by_identity.items()}

    @property
    def sids(self) -> frozenset[str]:
        return frozenset(self.sid_by_address.values())


class InconsistentService(AssertionError):
    def __init__(self, service_sid: str, problems: list[str]) -> None:
        listed = "\n  ".join(problems)
        super().__init__(f"Service {service_sid} breaks its invariants:\n  {listed}")
        self.problems = problems


def assert_service_consistent(
    client: Any,
    bindings_table: str,
    index_table: str,
    service_sid: str,
    *,
    now: float | None = None,
) -> ServiceAudit:
    """Raise InconsistentService listing every broken invariant; else what the Service holds at
    `now` (epoch seconds; the time of day by default)."""
    audit, problems = audit_service(client, bindings_table, index_table, service_sid, now=now)
    if problems:
        raise InconsistentService(service_sid, problems)
    return audit


@dataclass
class _Items:
    """A Service's items, as read, by what they are."""

    address: dict[str, Item]  # by SID
    sid: dict[str, Item]
    tags: dict[str, dict[tuple[str, ...], Item]]  # by SID, by the tags of the partition
    records: dict[str, Item]  # identity records, by identity
    copies: dict[str, tuple[str, Item]]  # by SID: the identity whose record holds it, the copy
    removals: dict[str, Item]
    many_tags_count: int


def audit_service(
    client: Any,
    bindings_table: str,
    index_table: str,
    service_sid: str,
    *,
    now: float | None = None,
) -> tuple[ServiceAudit, list[str]]:
    moment = time.time() if now is None else now
    problems: list[str] = []
    items = _read(client, bindings_table, index_table, service_sid, problems)

    # Each binding, by SID, with the attributes its items hold (its address item's first).
    every = set(items.address) | set(items.sid) | set(items.tags) | set(items.copies)
    bindings: dict[str, Item] = {}
    for sid in sorted(every):
        parts = _parts(items, sid)
        (first, attributes), *others = parts.items()
        problems += _malformed(first, attributes, service_sid)
        for where, other in others:
            problems += _differences(where, other, attributes)
        bindings[sid] = attributes

    live: dict[str, Item] = {}
    expired_addressed: set[str] = set()
    expired_indexed: set[str] = set()
    for sid, attributes in bindings.items():
        named = _tag_partitions(_index_tags(attributes))
        for tags in sorted(set(items.tags.get(sid, {})) - named):
            problems.append(f"binding {sid}: tag item {_named(tags)} that its tags do not name")
        index = {
            "no SID item": sid in items.sid,
            "no copy": sid in items.copies,
            **{
                f"no tag item for {_named(tags)}": tags in items.tags.get(sid, {}) for tags in named
            },
        }
        expires = attributes.get("ExpiresAt", {}).get("N")
        if expires is not None and int(expires) <= moment:
            if sid in items.address:
                expired_addressed.add(sid)
            if any(index.values()):
                expired_indexed.add(sid)
                gone = [part for part, there in index.items() if not there]
                if gone:
                    problems.append(f"expired binding {sid}: part of its index is gone: {gone}")
            continue
        live[sid] = attributes
        if sid not in items.address:
            problems += [
                f"{where}: orphan, no address item holds this SID" for where in _parts(items, sid)
            ]
            continue
        problems += [
            f"binding {sid}: {part}"
            for part, there in index.items()
            if not there and part != "no copy"
        ]

    sid_by_address: dict[str, str] = {}
    for sid, item in items.address.items():
        address = item["Address"]["S"]
        identity = item.get("Identity", {}).get("S", "")
        if item.get("ServiceIdentity") != {"S": f"{service_sid}#{identity}"}:
            problems.append(f"address item {address!r}: ServiceIdentity does not name its identity")
        if sid in live:
            sid_by_address[address] = sid
    for sid, item in sorted(items.removals.items()):
        if sid in items.address or sid in expired_indexed or sid in live:
            problems.append(f"removal item {sid}: the binding is still there")
        if item.get("Removal", {}).get("S") not in _REMOVALS or "RemoveAfter" not in item:
            problems.append(f"removal item {sid}: no known Removal, or no RemoveAfter")
    many = sum(("*",) in tagged for tagged in items.tags.values())
    if items.many_tags_count != many:
        problems.append(
            f"ManyTagBindings is {items.many_tags_count}, but {many} many-tags item(s) are there"
        )

    # Identity records: a count and a copy of each indexed binding of the identity, nothing else.
    indexed_by_identity: dict[str, list[str]] = defaultdict(list)
    for sid in set(live) | expired_indexed:
        indexed_by_identity[bindings[sid].get("Identity", {}).get("S", "")].append(sid)
    for identity in sorted(set(indexed_by_identity) | set(items.records)):
        problems += _identity_problems(
            identity, items.records.get(identity), indexed_by_identity.get(identity, [])
        )

    sids_by_identity: dict[str, list[str]] = defaultdict(list)
    for sid, attributes in live.items():
        sids_by_identity[attributes.get("Identity", {}).get("S", "")].append(sid)
    audit = ServiceAudit(
        sid_by_address=sid_by_address,
        sids_by_identity={
            identity: tuple(sorted(sids)) for identity, sids in sorted(sids_by_identity.items())
        },
        expired_addressed=frozenset(expired_addressed),
        expired_indexed=frozenset(expired_indexed),
    )
    return audit, problems


def _read(
    client: Any, bindings_table: str, index_table: str, service_sid: str, problems: list[str]
) -> _Items:
    address: dict[str, Item] = {}
    for item in _query_service(client, bindings_table, service_sid):
        sid = item.get("Sid", {}).get("S", "")
        if sid in address:
            problems.append(f"SID {sid} held by two address items")
        address[sid] = item
    sid_items: dict[str, Item] = {}
    # Tag, combination and many-tags items, by SID, by the tags their partition names ("*" for
    # many-tags).
    tag_items: dict[str, dict[tuple[str, ...], Item]] = defaultdict(dict)
    records: dict[str, Item] = {}
    copies: dict[str, tuple[str, Item]] = {}
    removals: dict[str, Item] = {}
    many_tags_count = 0
    tag_prefix, combination_prefix = f"{service_sid}#tag#", f"{service_sid}#tags#"
    for item in _scan_service_partitions(client, index_table, service_sid):
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if pk == service_sid:
            sid_items[sk] = item
        elif pk.startswith(tag_prefix):
            tag_items[sk][(pk.removeprefix(tag_prefix),)] = item
        elif pk.startswith(combination_prefix):
            tags = tuple(json.loads(pk.removeprefix(combination_prefix)))
            if len(tags) < 2 or list(tags) != sorted(set(tags)):
                problems.append(f"combination item ({pk!r}, {sk!r}): not two or more sorted tags")
            tag_items[sk][tags] = item
        elif pk == f"{service_sid}#many-tags":
            tag_items[sk][("*",)] = item
        elif pk == f"{service_sid}#stats" and sk == "many-tags":
            many_tags_count = int(item.get("ManyTagBindings", {}).get("N", "0"))
        elif pk == f"{service_sid}#identity":
            records[sk] = item
            for name, value in item.items():
                if name.startswith("BS"):
                    if name in copies:
                        problems.append(f"{name} copied in two identity records")
                    copies[name] = (sk, value)
        elif pk == f"{service_sid}#removed":
            removals[sk] = item
        else:
            problems.append(f"index item ({pk!r}, {sk!r}) has an unknown partition")
    return _Items(address, sid_items, dict(tag_items), records, copies, removals, many_tags_count)


def _parts(items: _Items, sid: str) -> dict[str, Item]:
    """The items of binding `sid` that are there, named, each with the attributes it holds."""
    parts: dict[str, Item] = {}
    if sid in items.address:
        parts[f"address item {items.address[sid]['Address']['S']!r}"] = items.address[sid]
    if sid in items.sid:
        parts[f"SID item {sid}"] = items.sid[sid]
    for tags, item in sorted(items.tags.get(sid, {}).items()):
        parts[f"tag item {_named(tags)} of {sid}"] = item
    if sid in items.copies:
        identity, copy = items.copies[sid]
        parts[f"identity {identity!r}: copy of {sid}"] = copy.get("M", {})
    return {
        where: {
            name: value
            for name, value in item.items()
            if name not in _ADDRESS_ONLY and name not in _INDEX_KEY
        }
        for where, item in parts.items()
    }


def _identity_problems(identity: str, record: Item | None, sids: list[str]) -> list[str]:
    """`sids`: the bindings of the identity whose index is there, live or expired."""
    where = f"identity {identity!r}"
    if record is not None and _emptied(record):
        record = None  # the same as no record
    if record is None:
        return [f"{where}: {len(sids)} binding(s) but no identity record"] if sids else []
    problems: list[str] = []
    copies = {name: value for name, value in record.items() if name.startswith("BS")}
    others = set(record) - set(copies) - _INDEX_KEY - {"BindingCount"}
    if others:
        problems.append(f"{where}: unexpected attributes {sorted(others)}")
    count = int(record.get("BindingCount", {}).get("N", "-1"))
    if count != len(copies):
        problems.append(f"{where}: BindingCount {count} but {len(copies)} binding copies")
    if len(copies) > MAX_BINDINGS_PER_IDENTITY:
        problems.append(f"{where}: {len(copies)} bindings, above {MAX_BINDINGS_PER_IDENTITY}")
    for sid, copy in sorted(copies.items()):
        if copy.get("M", {}).get("Identity", {}).get("S") != identity:
            problems.append(f"{where}: holds {sid}, a binding of another identity")
    for sid in sorted(set(sids) - set(copies)):
        problems.append(f"{where}: no copy of its binding {sid}")
    return problems


def _emptied(record: Item) -> bool:
    """An identity record that lost its last binding: a count of 0 and nothing else."""
    return record.get("BindingCount") == {"N": "0"} and set(record) == _INDEX_KEY | {"BindingCount"}


def _malformed(where: str, attributes: Item, service_sid: str) -> list[str]:
    problems = []
    missing = _REQUIRED - set(attributes)
    if missing:
        problems.append(f"{where}: missing attributes {sorted(missing)}")
    unknown = set(attributes) - _REQUIRED - _OPTIONAL
    if unknown:
        problems.append(f"{where}: unexpected attributes {sorted(unknown)}")
    if not _SID.fullmatch(attributes.get("Sid", {}).get("S", "")):
        problems.append(f"{where}: Sid is not a binding SID")
    if attributes.get("ServiceSid") != {"S": service_sid}:
        problems.append(f"{where}: ServiceSid is not its Service")
    return problems


def _differences(where: str, actual: Item, expected: Item) -> list[str]:
    return [
        f"{where}: {name} is {actual.get(name)!r}, its address item has {expected.get(name)!r}"
        for name in sorted(set(actual) | set(expected))
        if actual.get(name) != expected.get(name)
    ]


def _without_key(item: Item) -> Item:
    return {name: value for name, value in item.items() if name not in _INDEX_KEY}


def _index_tags(attributes: Item) -> set[str]:
    tags = {tag["S"] for tag in attributes.get("Tags", {}).get("L", [])}
    kind = attributes.get("BindingType", {}).get("S")
    return (tags | ({kind} if kind else set())) - {IMPLICIT_TAG_ALL}


def _named(tags: tuple[str, ...]) -> str:
    if tags == ("*",):
        return "many-tags"
    return repr(tags[0]) if len(tags) == 1 else repr(list(tags))


def _tag_partitions(tags: set[str]) -> set[tuple[str, ...]]:
    """The tags each of a binding's tag items is listed under ("*": the many-tags item)."""
    ordered = sorted(tags)
    if len(ordered) > MAX_COMBINED_TAGS:
        return {(tag,) for tag in ordered} | {("*",)}
    return {
        combination
        for size in range(1, len(ordered) + 1)
        for combination in combinations(ordered, size)
    }


def _query_service(client: Any, table: str, service_sid: str) -> Iterator[Item]:
    request: dict[str, Any] = {
        "TableName": table,
        "ConsistentRead": True,
        "KeyConditionExpression": "ServiceSid = :service",
        "ExpressionAttributeValues": {":service": {"S": service_sid}},
    }
    yield from _pages(client.query, request)


def _scan_service_partitions(client: Any, table: str, service_sid: str) -> Iterator[Item]:
    # Tag partitions are named by tags the audit cannot know beforehand: scan (tests only).
    # Service SIDs have a fixed length, so the prefix selects this Service's partitions alone.
    request: dict[str, Any] = {
        "TableName": table,
        "ConsistentRead": True,
        "FilterExpression": "begins_with(pk, :service)",
        "ExpressionAttributeValues": {":service": {"S": service_sid}},
    }
    yield from _pages(client.scan, request)


def _pages(operation: Any, request: dict[str, Any]) -> Iterator[Item]:
    while True:
        response = operation(**request)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
