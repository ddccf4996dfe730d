"""The items that hold bindings, and nothing that touches DynamoDB: their keys and partitions,
the attributes every item of a binding carries, and the conversions both ways. The layout, and
why it is so, is in `store.py`'s docstring.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from itertools import combinations
from typing import Any

from notify_bindings.dal.dynamo import AttributeValue, Item
from notify_bindings.domain.bindings import MAX_TAG_FILTERS, Binding, BindingType, Removal
from notify_bindings.domain.users import User

# The most items DynamoDB takes in one TransactWriteItems.
MAX_TRANSACTION_ITEMS = 100
# The Service item's string set of the identities whose erasure has begun and not ended.
ERASING = "ErasingIdentities"
# A binding with at most this many index tags is listed under every combination of them. It is
# the most tags a list can filter by, so that every list by tags names one partition.
MAX_COMBINED_TAGS = MAX_TAG_FILTERS
# A removal item outlives the stream record it explains (a stream keeps records 24 hours),
# then DynamoDB's TTL deletes it (the index table's TTL attribute is RemoveAfter).
REMOVAL_RECORD_SECONDS = 2 * 86_400


class Tables:
    """The tables a binding store works on, by their role."""

    def __init__(self, bindings: str, index: str, services: str) -> None:
        self.bindings = bindings
        self.index = index
        self.services = services


# -- keys and partitions ----------------------------------------------------------------------


def address_key(service_sid: str, address: str) -> Item:
    return {"ServiceSid": {"S": service_sid}, "Address": {"S": address}}


def sid_key(service_sid: str, sid: str) -> Item:
    return {"pk": {"S": service_sid}, "sk": {"S": sid}}


def identities_partition(service_sid: str) -> str:
    return f"{service_sid}#identity"


def identity_key(service_sid: str, identity: str) -> Item:
    return {"pk": {"S": identities_partition(service_sid)}, "sk": {"S": identity}}


def tags_partition(service_sid: str, tags: list[str] | tuple[str, ...]) -> str:
    """The index partition of the bindings that have all of `tags` (sorted, without `all`)."""
    if not tags:
        return service_sid
    if len(tags) == 1:
        return f"{service_sid}#tag#{tags[0]}"
    # JSON: unambiguous whatever the tags hold, and readable in the console.
    return f"{service_sid}#tags#{json.dumps(list(tags), ensure_ascii=False, separators=(',', ':'))}"


def many_tags_partition(service_sid: str) -> str:
    return f"{service_sid}#many-tags"


def stats_key(service_sid: str) -> Item:
    return {"pk": {"S": f"{service_sid}#stats"}, "sk": {"S": "many-tags"}}


def removals_partition(service_sid: str) -> str:
    return f"{service_sid}#removed"


def removal_key(service_sid: str, sid: str) -> Item:
    """The key of the item that records why binding `sid` was removed."""
    return {"pk": {"S": removals_partition(service_sid)}, "sk": {"S": sid}}


def index_keys(binding: Binding) -> list[Item]:
    """The SID item's key first, then every tag, combination and many-tags item's."""
    service_sid, sid = binding.service_sid, binding.sid
    tags = sorted(binding.index_tags())
    partitions = [tags_partition(service_sid, [tag]) for tag in tags]
    if has_many_tags(binding):
        partitions.append(many_tags_partition(service_sid))
    else:
        partitions += [
            tags_partition(service_sid, combination)
            for size in range(2, len(tags) + 1)
            for combination in combinations(tags, size)
        ]
    return [sid_key(service_sid, sid)] + [
        {"pk": {"S": partition}, "sk": {"S": sid}} for partition in partitions
    ]


def has_many_tags(binding: Binding | None) -> int:
    """1 when the binding has too many index tags to be listed under their combinations."""
    return int(binding is not None and len(binding.index_tags()) > MAX_COMBINED_TAGS)


def many_tag_bindings(stats: list[Item]) -> int:
    """How many bindings of the Service have a many-tags item, as its stats item counts."""
    return sum(int(item.get("ManyTagBindings", {}).get("N", "0")) for item in stats)


def tag_filter(tags: list[str], values: dict[str, AttributeValue]) -> str | None:
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


# -- items --------------------------------------------------------------------------------------


def holds(binding: Binding | None) -> dict[str, Any]:
    """The condition that the address item is still what we read: `binding`, or nothing."""
    if binding is None:
        return {"ConditionExpression": "attribute_not_exists(Address)"}
    return {
        "ConditionExpression": "Sid = :sid",
        "ExpressionAttributeValues": {":sid": {"S": binding.sid}},
    }


def address_item(binding: Binding) -> Item:
    return {
        **address_key(binding.service_sid, binding.address),
        **binding_attributes(binding),
        "ServiceIdentity": {"S": f"{binding.service_sid}#{binding.identity}"},
    }


def removal_item(binding: Binding, removal: Removal, detail: str | None, now: float) -> Item:
    """The item that records why `binding` went, kept REMOVAL_RECORD_SECONDS from `now`."""
    item: Item = {
        **removal_key(binding.service_sid, binding.sid),
        "Removal": {"S": removal.value},
        "RemoveAfter": {"N": str(int(now) + REMOVAL_RECORD_SECONDS)},
    }
    if detail is not None:
        item["Detail"] = {"S": detail}
    return item


def binding_attributes(binding: Binding) -> Item:
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
        # is the TTL attribute of the bindings table alone (see store.py's docstring).
        attributes["ExpiresAt"] = {"N": str(binding.expires_at)}
    return attributes


def binding_from(item: Item) -> Binding:
    """The binding an item holds: any item of a binding (its address item, an index item, a
    copy in an identity record), or a stream record's image of one."""
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


def bindings_in_record(record: Item) -> Iterator[Binding]:
    """The copies of bindings an identity record holds, each under an attribute named by its
    SID."""
    for name, value in record.items():
        if name.startswith("BS"):
            yield binding_from(value["M"])


def by_sid(binding: Binding) -> str:
    return binding.sid


def user_from(account_sid: str, service_sid: str, records: list[Item], now: float) -> User | None:
    """The User an identity record makes at `now`: None for no record, or one with no binding
    left that has not expired (emptied by deletes, say)."""
    if not records:
        return None
    live = (binding for binding in bindings_in_record(records[0]) if not binding.expired_at(now))
    bindings = tuple(sorted(live, key=by_sid))
    if not bindings:
        return None
    return User(account_sid, service_sid, records[0]["sk"]["S"], bindings)
