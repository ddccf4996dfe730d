"""The DynamoDB store: the only code that reads or writes the tables.

Items (design.md invariants 1-4 hold because each write below is one transaction):

BindingsTable (ServiceSid, Address)
    the binding, one item per address: `attribute_not_exists` / `Sid = :sid` conditions on
    it serialise every create, replace and delete of that address.
BindingIndexTable (pk, sk)
    (ServiceSid, Sid)                   the binding by SID: fetch, and the Service's list in
                                        creation order (SIDs sort by creation time)
    (ServiceSid#tag#<tag>, Sid)         one per tag and one for the binding type: lists by tag
    (ServiceSid#identity, <identity>)   the identity record: BindingCount (conditioned on the
                                        per-identity limit) and a copy of each binding under an
                                        attribute named by its SID, so a list by identity is
                                        one strongly consistent BatchGetItem.

Every item that describes a binding carries the same attributes, so any of them answers a read.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from notify_bindings.errors import IdentityLimitExceeded, Throttled, Unavailable
from notify_bindings.models import (
    IMPLICIT_TAG_ALL,
    MAX_BINDINGS_PER_IDENTITY,
    Binding,
    BindingFilters,
    BindingType,
)
from notify_bindings.sids import (
    first_binding_sid_on,
    last_binding_sid_on,
    predecessor,
    successor,
)
from notify_bindings.tokens import Direction, PageCursor

DynamoDBClient = Any  # a botocore DynamoDB client
AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

_THROTTLED = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
_UNAVAILABLE = frozenset({"InternalServerError", "ServiceUnavailable"})
_CONFLICT = frozenset({"TransactionConflict", "TransactionConflictException"})
_CONDITION_FAILED = "ConditionalCheckFailed"
_BATCH_GET_LIMIT = 100
_MAX_LOOKS = 50  # reads of the current state by one write, when other writes keep winning


class Outcome(Enum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class PutResult:
    binding: Binding
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class StoredPage:
    """Bindings in SID order, and whether more exist on either side of them."""

    bindings: list[Binding]
    more_before: bool
    more_after: bool


class _Shrink(Enum):
    """How an identity record loses a binding; only a retry can tell which one applies."""

    DECREMENT = "decrement"  # the identity keeps other bindings
    DELETE = "delete"  # it was the identity's last binding: the record goes too

    def other(self) -> _Shrink:
        return _Shrink.DELETE if self is _Shrink.DECREMENT else _Shrink.DECREMENT


class _Cancelled(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__(reasons)
        self.reasons = reasons

    def failed(self, index: int | None) -> bool:
        return index is not None and self.reasons[index] == _CONDITION_FAILED

    @property
    def conflicted(self) -> bool:
        return any(reason in _CONFLICT for reason in self.reasons)


@dataclass
class _Transaction:
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, operation: str, table: str, **request: Any) -> int:
        self.items.append({operation: {"TableName": table, **request}})
        return len(self.items) - 1


@dataclass
class _WriteRetries:
    """When a write tries again, and when it gives up.

    DynamoDB failing it (a transaction conflict, say) counts: back off, and give up after
    `max_failures`. Losing a condition to another write does not: that write made progress,
    and a burst of writes to one address makes all but one lose, again and again. Look again
    after a short jitter (so that the losers of one race do not race again in step), within
    `_MAX_LOOKS` looks in all, so that a write ends well within the function's timeout.
    """

    max_failures: int
    back_off: Callable[[int], None]
    failures: int = 0
    looks: int = 0

    def remain(self) -> bool:
        self.looks += 1
        return self.failures < self.max_failures and self.looks <= _MAX_LOOKS

    def failed(self) -> None:
        self.back_off(self.failures)
        self.failures += 1

    def lost_race(self) -> None:
        self.back_off(0)


class BindingStore:
    def __init__(
        self,
        client: DynamoDBClient,
        bindings_table: str,
        index_table: str,
        *,
        max_attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bindings_table = bindings_table
        self._index_table = index_table
        self._max_attempts = max_attempts
        self._sleep = sleep

    # -- reads ---------------------------------------------------------------------------

    def get(self, service_sid: str, sid: str) -> Binding | None:
        return self._read_binding(self._index_table, _sid_key(service_sid, sid))

    def list_page(
        self,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        page_size: int,
    ) -> StoredPage:
        if filters.identities:
            return self._page_by_identity(service_sid, filters, cursor, page_size)
        return self._page_from_index(service_sid, filters, cursor, page_size)

    def _page_by_identity(
        self,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        page_size: int,
    ) -> StoredPage:
        keys = [_identity_key(service_sid, identity) for identity in filters.identities]
        bindings = sorted(
            (
                binding
                for record in self._batch_get_index(keys)
                for binding in _bindings_in_record(record)
                if binding.matches(filters)
            ),
            key=lambda binding: binding.sid,
        )
        if cursor is None:
            window = bindings[: page_size + 1]
            return StoredPage(window[:page_size], False, len(window) > page_size)
        if cursor.direction is Direction.AFTER:
            after = [binding for binding in bindings if binding.sid > cursor.sid]
            return StoredPage(after[:page_size], True, len(after) > page_size)
        before = [binding for binding in bindings if binding.sid < cursor.sid]
        return StoredPage(before[-page_size:], len(before) > page_size, True)

    def _page_from_index(
        self,
        service_sid: str,
        filters: BindingFilters,
        cursor: PageCursor | None,
        page_size: int,
    ) -> StoredPage:
        partition, residual_tags = _index_partition(service_sid, filters.tags)
        # Every binding SID sorts between "BS" and "BT".
        low = first_binding_sid_on(filters.start_date) if filters.start_date else "BS"
        high = last_binding_sid_on(filters.end_date) if filters.end_date else "BT"
        forward = cursor is None or cursor.direction is Direction.AFTER
        if cursor is not None and forward:
            low = max(low, successor(cursor.sid))
        elif cursor is not None:
            high = min(high, predecessor(cursor.sid))
        if low > high:  # an empty range; DynamoDB refuses BETWEEN with bounds reversed
            return StoredPage([], cursor is not None and forward, not forward)
        request: dict[str, Any] = {
            "TableName": self._index_table,
            "ConsistentRead": True,
            "ScanIndexForward": forward,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": partition},
                ":low": {"S": low},
                ":high": {"S": high},
            },
        }
        if residual_tags:
            request.update(_tag_filter(residual_tags, request["ExpressionAttributeValues"]))
        found = self._query(request, wanted=page_size + 1)
        more = len(found) > page_size
        page = found[:page_size]
        if forward:
            return StoredPage(page, cursor is not None, more)
        page.reverse()
        return StoredPage(page, more, True)

    def _query(self, request: dict[str, Any], wanted: int) -> list[Binding]:
        found: list[Binding] = []
        while len(found) < wanted:
            with _translated_errors():
                response = self._client.query(**request, Limit=wanted - len(found))
            found += [_binding_from(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found

    def _batch_get_index(self, keys: list[Item]) -> Iterator[Item]:
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            pending: dict[str, Any] = {
                self._index_table: {
                    "Keys": keys[start : start + _BATCH_GET_LIMIT],
                    "ConsistentRead": True,
                }
            }
            for attempt in self._attempts():
                with _translated_errors():
                    response = self._client.batch_get_item(RequestItems=pending)
                yield from response.get("Responses", {}).get(self._index_table, [])
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                self._back_off(attempt)
            else:
                raise Throttled()

    # -- writes --------------------------------------------------------------------------

    def put(self, new: Binding) -> PutResult:
        """Create `new`, replacing whatever binding holds its address in the Service."""
        shrink = _Shrink.DECREMENT
        retries = self._write_retries()
        while retries.remain():
            current = self._binding_at(new.service_sid, new.address)
            if current is not None and current.registers_same_as(new):
                return PutResult(current, Outcome.UNCHANGED)

            plan = _Transaction()
            address_guard = plan.add(
                "Put",
                self._bindings_table,
                Item=_address_item(new),
                **_holds(current),
            )
            if current is not None:
                self._remove_from_index(plan, current)
            self._add_to_index(plan, new)
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
                    shrink_at = self._shrink_identity(plan, current, shrink)

            try:
                self._transact(plan)
            except _Cancelled as cancelled:
                if cancelled.failed(address_guard) or cancelled.failed(moved_at):
                    retries.lost_race()  # the address changed hands meanwhile: look again
                    continue
                if cancelled.failed(shrink_at):
                    shrink = shrink.other()
                    continue
                if cancelled.failed(grow_at):
                    raise IdentityLimitExceeded(MAX_BINDINGS_PER_IDENTITY) from None
                retries.failed()
                continue
            return PutResult(new, Outcome.CREATED if current is None else Outcome.REPLACED)
        raise Unavailable()

    def delete(self, service_sid: str, sid: str) -> Binding | None:
        """Delete the binding; None when there is no such binding (any more)."""
        shrink = _Shrink.DECREMENT
        retries = self._write_retries()
        while retries.remain():
            current = self.get(service_sid, sid)
            if current is None:
                return None
            plan = _Transaction()
            address_guard = plan.add(
                "Delete",
                self._bindings_table,
                Key=_address_key(current.service_sid, current.address),
                **_holds(current),
            )
            self._remove_from_index(plan, current)
            shrink_at = self._shrink_identity(plan, current, shrink)
            try:
                self._transact(plan)
            except _Cancelled as cancelled:
                if cancelled.failed(address_guard):
                    continue  # replaced or deleted meanwhile: the next look finds it gone
                if cancelled.failed(shrink_at):
                    shrink = shrink.other()
                    continue
                retries.failed()
                continue
            return current
        raise Unavailable()

    def _binding_at(self, service_sid: str, address: str) -> Binding | None:
        return self._read_binding(self._bindings_table, _address_key(service_sid, address))

    def _read_binding(self, table: str, key: Item) -> Binding | None:
        with _translated_errors():
            response = self._client.get_item(TableName=table, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return _binding_from(item) if item else None

    def _add_to_index(self, plan: _Transaction, binding: Binding) -> None:
        attributes = _binding_attributes(binding)
        for key in _index_keys(binding):
            plan.add("Put", self._index_table, Item={**key, **attributes})

    def _remove_from_index(self, plan: _Transaction, binding: Binding) -> None:
        for key in _index_keys(binding):
            plan.add("Delete", self._index_table, Key=key)

    def _shrink_identity(self, plan: _Transaction, binding: Binding, shrink: _Shrink) -> int:
        key = _identity_key(binding.service_sid, binding.identity)
        names = {"#old": binding.sid}
        if shrink is _Shrink.DELETE:
            return plan.add(
                "Delete",
                self._index_table,
                Key=key,
                ConditionExpression="attribute_exists(#old) AND BindingCount = :one",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        return plan.add(
            "Update",
            self._index_table,
            Key=key,
            UpdateExpression="REMOVE #old ADD BindingCount :minus_one",
            ConditionExpression="attribute_exists(#old) AND BindingCount > :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":one": {"N": "1"}, ":minus_one": {"N": "-1"}},
        )

    def _transact(self, plan: _Transaction) -> None:
        try:
            with _translated_errors():
                self._client.transact_write_items(
                    TransactItems=plan.items,
                    ClientRequestToken=str(uuid.uuid4()),
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            raise _Cancelled([reason.get("Code", "None") for reason in reasons]) from None

    # -- retries -------------------------------------------------------------------------

    def _attempts(self) -> range:
        return range(self._max_attempts)

    def _write_retries(self) -> _WriteRetries:
        return _WriteRetries(self._max_attempts, self._back_off)

    def _back_off(self, attempt: int) -> None:
        self._sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))  # noqa: S311 - jitter


# -- translating errors ------------------------------------------------------------------


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn DynamoDB failures into domain errors, by error code only."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in _THROTTLED:
            raise Throttled() from error
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _UNAVAILABLE or status >= 500:
            raise Unavailable() from error
        raise
    except (EndpointUnreachable, HTTPClientError) as error:
        raise Unavailable() from error


# -- items -------------------------------------------------------------------------------


def _address_key(service_sid: str, address: str) -> Item:
    return {"ServiceSid": {"S": service_sid}, "Address": {"S": address}}


def _sid_key(service_sid: str, sid: str) -> Item:
    return {"pk": {"S": service_sid}, "sk": {"S": sid}}


def _tag_key(service_sid: str, tag: str, sid: str) -> Item:
    return {"pk": {"S": f"{service_sid}#tag#{tag}"}, "sk": {"S": sid}}


def _identity_key(service_sid: str, identity: str) -> Item:
    return {"pk": {"S": f"{service_sid}#identity"}, "sk": {"S": identity}}


def _index_keys(binding: Binding) -> list[Item]:
    keys = [_sid_key(binding.service_sid, binding.sid)]
    keys += [
        _tag_key(binding.service_sid, tag, binding.sid) for tag in sorted(binding.index_tags())
    ]
    return keys


def _index_partition(service_sid: str, tags: tuple[str, ...]) -> tuple[str, list[str]]:
    """Which index partition to query for `tags`, and the tags left to filter on.

    An explicit tag is usually rarer than a binding type, so it is preferred as the key.
    """
    wanted = [tag for tag in tags if tag != IMPLICIT_TAG_ALL]
    if not wanted:
        return service_sid, []
    types = {kind.value for kind in BindingType}
    key_tag = next((tag for tag in wanted if tag not in types), wanted[0])
    return f"{service_sid}#tag#{key_tag}", [tag for tag in wanted if tag != key_tag]


def _tag_filter(tags: list[str], values: dict[str, AttributeValue]) -> dict[str, str]:
    types = {kind.value for kind in BindingType}
    clauses = []
    for position, tag in enumerate(tags):
        placeholder = f":tag{position}"
        values[placeholder] = {"S": tag}
        clause = f"contains(Tags, {placeholder})"
        if tag in types:
            clause = f"({clause} OR BindingType = {placeholder})"
        clauses.append(clause)
    return {"FilterExpression": " AND ".join(clauses)}


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
