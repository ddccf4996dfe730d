"""An audit of one Service's items against the invariants of design.md.

It reads the raw items of both tables, not the store's answers, and checks them against the item
layout that `notify_bindings.store` documents:

- BindingsTable: one address item per address, holding the binding's attributes,
  `ServiceIdentity` and, when it expires, `ExpiresAt`;
- BindingIndexTable: for each address item, a SID item `(ServiceSid, Sid)` and one tag item
  `(ServiceSid#tag#<tag>, Sid)` per index tag (tags, plus the binding type, minus `all`); for a
  binding with at most MAX_COMBINED_TAGS index tags one combination item
  `(ServiceSid#tags#<JSON list of sorted tags>, Sid)` per combination of two or more of them,
  else one `(ServiceSid#many-tags, Sid)` item - all with the same attributes; a count of the
  many-tags items in `(ServiceSid#stats, many-tags)` (absent when 0); one identity record
  `(ServiceSid#identity, <identity>)` per identity that has bindings, with `BindingCount` and
  a copy of each binding under its SID. A record emptied by deletes (`BindingCount` 0, no
  copies, nothing else) is the same as no record. A removal item `(ServiceSid#removed, Sid)`
  per binding removed in the last two days, saying why (`Removal`), for none that still is.

Every problem found is reported at once, so a failure shows the whole damage.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from notify_bindings.models import IMPLICIT_TAG_ALL, MAX_BINDINGS_PER_IDENTITY
from notify_bindings.store import MAX_COMBINED_TAGS, Removal

Item = dict[str, Any]

_SID = re.compile(r"BS[0-9a-f]{32}")
_ADDRESS_ONLY = frozenset({"ServiceIdentity", "ExpiresAt"})
_REMOVALS = frozenset(removal.value for removal in Removal)
_INDEX_KEY = frozenset({"pk", "sk"})
_REQUIRED = frozenset(
    {"Sid", "AccountSid", "ServiceSid", "Identity", "BindingType", "Address", "Tags", "DateCreated"}
)
_OPTIONAL = frozenset({"CredentialSid", "NotificationProtocolVersion"})


@dataclass(frozen=True)
class ServiceAudit:
    """What a consistent Service holds, as the audit read it."""

    sid_by_address: dict[str, str]
    sids_by_identity: dict[str, tuple[str, ...]]  # each identity's binding SIDs, sorted

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
    client: Any, bindings_table: str, index_table: str, service_sid: str
) -> ServiceAudit:
    """Raise InconsistentService listing every broken invariant; else what the Service holds."""
    audit, problems = audit_service(client, bindings_table, index_table, service_sid)
    if problems:
        raise InconsistentService(service_sid, problems)
    return audit


def audit_service(
    client: Any, bindings_table: str, index_table: str, service_sid: str
) -> tuple[ServiceAudit, list[str]]:
    problems: list[str] = []
    address_items = list(_query_service(client, bindings_table, service_sid))
    index_items = list(_scan_service_partitions(client, index_table, service_sid))

    # The bindings, by SID, as their address items hold them.
    bindings: dict[str, Item] = {}
    sid_by_address: dict[str, str] = {}
    for item in address_items:
        address = item["Address"]["S"]
        attributes = {name: value for name, value in item.items() if name not in _ADDRESS_ONLY}
        problems += _malformed(f"address item {address!r}", attributes, service_sid)
        sid = item.get("Sid", {}).get("S", "")
        identity = item.get("Identity", {}).get("S", "")
        if item.get("ServiceIdentity") != {"S": f"{service_sid}#{identity}"}:
            problems.append(f"address item {address!r}: ServiceIdentity does not name its identity")
        if sid in bindings:
            problems.append(f"SID {sid} held by two address items")
        bindings[sid] = attributes
        sid_by_address[address] = sid

    sid_items: dict[str, Item] = {}
    # Tag, combination and many-tags items, by SID, by the tags their partition names ("*" for
    # many-tags).
    tag_items: dict[str, dict[tuple[str, ...], Item]] = defaultdict(dict)
    identity_records: dict[str, Item] = {}
    removal_items: dict[str, Item] = {}
    many_tags_count = 0
    tag_prefix, combination_prefix = f"{service_sid}#tag#", f"{service_sid}#tags#"
    for item in index_items:
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
            identity_records[sk] = item
        elif pk == f"{service_sid}#removed":
            removal_items[sk] = item
        else:
            problems.append(f"index item ({pk!r}, {sk!r}) has an unknown partition")

    # Index items: exactly the ones each binding needs, carrying exactly its attributes.
    for sid, item in sid_items.items():
        where = f"SID item {sid}"
        if sid not in bindings:
            problems.append(f"{where}: orphan, no address item holds this SID")
            continue
        problems += _differences(where, _without_key(item), bindings[sid])
    for sid, tagged in tag_items.items():
        for tags, item in sorted(tagged.items()):
            where = f"tag item {_named(tags)} of {sid}"
            if sid not in bindings:
                problems.append(f"{where}: orphan, no address item holds this SID")
                continue
            problems += _differences(where, _without_key(item), bindings[sid])
    for sid, attributes in bindings.items():
        if sid not in sid_items:
            problems.append(f"binding {sid}: no SID item")
        expected_tags = _tag_partitions(_index_tags(attributes))
        present = set(tag_items.get(sid, {}))
        for tags in sorted(expected_tags - present):
            problems.append(f"binding {sid}: no tag item for {_named(tags)}")
        for tags in sorted(present - expected_tags):
            problems.append(f"binding {sid}: tag item {_named(tags)} that its tags do not name")
    for sid, item in sorted(removal_items.items()):
        if sid in bindings:
            problems.append(f"removal item {sid}: the binding is still there")
        if item.get("Removal", {}).get("S") not in _REMOVALS or "RemoveAfter" not in item:
            problems.append(f"removal item {sid}: no known Removal, or no RemoveAfter")
    many = sum(len(_index_tags(attributes)) > MAX_COMBINED_TAGS for attributes in bindings.values())
    if many_tags_count != many:
        problems.append(
            f"ManyTagBindings is {many_tags_count}, but {many} binding(s) have many tags"
        )

    # Identity records: a count and a copy of each binding of the identity, nothing else.
    sids_by_identity: dict[str, list[str]] = defaultdict(list)
    for sid, attributes in bindings.items():
        sids_by_identity[attributes.get("Identity", {}).get("S", "")].append(sid)
    for identity in sorted(set(sids_by_identity) | set(identity_records)):
        problems += _identity_problems(
            identity, identity_records.get(identity), sids_by_identity.get(identity, []), bindings
        )

    audit = ServiceAudit(
        sid_by_address=sid_by_address,
        sids_by_identity={
            identity: tuple(sorted(sids)) for identity, sids in sorted(sids_by_identity.items())
        },
    )
    return audit, problems


def _identity_problems(
    identity: str, record: Item | None, sids: list[str], bindings: dict[str, Item]
) -> list[str]:
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
    if count != len(sids):
        problems.append(f"{where}: BindingCount {count} but {len(sids)} address items")
    if len(sids) > MAX_BINDINGS_PER_IDENTITY:
        problems.append(f"{where}: {len(sids)} bindings, above {MAX_BINDINGS_PER_IDENTITY}")
    for sid, copy in sorted(copies.items()):
        if sid not in bindings:
            problems.append(f"{where}: orphan copy of {sid}, no address item holds it")
        elif copy != {"M": bindings[sid]}:
            problems += _differences(f"{where}: copy of {sid}", copy.get("M", {}), bindings[sid])
        elif bindings[sid]["Identity"]["S"] != identity:
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
