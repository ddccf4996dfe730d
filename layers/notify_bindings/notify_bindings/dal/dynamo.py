"""DynamoDB plumbing the stores share: errors translated by code, transactions and their
cancellation reasons, batch reads and deletes, and the one paging engine of every list - pages
of a key range that neither repeat nor skip.

Its records are named tuples and plain classes, not dataclasses: a dataclass compiles its
methods when its module is imported, a cost of every cold start.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Generic, NamedTuple, TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from notify_bindings.domain.paging import Direction, KeyCursor, Page, PageCursor, forward
from notify_bindings.platform import deadline
from notify_bindings.platform.deadline import THROTTLING_CODES, OutOfTime
from notify_bindings.platform.errors import ApiError, Throttled, Unavailable
from notify_bindings.platform.sids import predecessor, successor

DynamoDBClient = Any  # a botocore DynamoDB client
AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]
T = TypeVar("T")

# A transaction that an earlier attempt with the same request token is still carrying out:
# its outcome is not known yet.
_IN_PROGRESS = "TransactionInProgressException"
_UNAVAILABLE = frozenset({"InternalServerError", "ServiceUnavailable", _IN_PROGRESS})
# A single-item write refused because a transaction is writing or checking the item.
_WRITE_CONFLICT = "TransactionConflictException"
# Cancellation reasons of a transaction item refused for throughput.
_THROTTLED_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
_CONDITION_FAILED = "ConditionalCheckFailed"
BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25


class Contended(Unavailable):
    """A single-item write met a transaction on its item; trying again shortly will do."""


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn DynamoDB failures into domain errors, by error code only."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES:
            raise Throttled() from error
        if code == _WRITE_CONFLICT:
            raise Contended() from error
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _UNAVAILABLE or status >= 500:
            raise Unavailable() from error
        raise
    except (EndpointUnreachable, HTTPClientError) as error:
        raise Unavailable() from error
    except OutOfTime as error:  # no attempt could end before the invocation's deadline
        raise (Throttled() if error.throttled else Unavailable()) from error


class Cancelled(Exception):
    """A transaction DynamoDB cancelled, with the reason for each of its items."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(reasons)
        self.reasons = reasons

    def failed(self, index: int | None) -> bool:
        """True when the item at `index` failed its condition."""
        return index is not None and self.reasons[index] == _CONDITION_FAILED

    @property
    def throttled(self) -> bool:
        return any(reason in _THROTTLED_REASONS for reason in self.reasons)


class Transaction:
    """The items of one TransactWriteItems, added a step at a time."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, operation: str, table: str, **request: Any) -> int:
        """Add an item; returns its index, to find its reason if the transaction is cancelled."""
        self.items.append({operation: {"TableName": table, **request}})
        return len(self.items) - 1

    def run(self, client: DynamoDBClient) -> None:
        """All items or none. The request token makes botocore's own retries idempotent.

        Unavailable means the outcome is unknown (a timeout, an internal error, a repeat
        still in progress): the transaction may have happened. Read again before deciding.
        """
        try:
            with translated_errors():
                client.transact_write_items(
                    TransactItems=self.items, ClientRequestToken=str(uuid.uuid4())
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            raise Cancelled([reason.get("Code", "None") for reason in reasons]) from None


class Retries:
    """When a write tries again, and when it gives up.

    DynamoDB failing it (a transaction conflict, say) counts: back off, and give up after
    `max_failures`. Losing a condition to another write does not: that write made progress,
    and a burst of writes to one address makes all but one lose, again and again. Look again
    after a short jitter (so that the losers of one race do not race again in step), within
    `max_looks` looks in all. No pause outlasts the invocation's deadline, and no call is made
    past it (`deadline.guard`).
    """

    def __init__(
        self,
        max_failures: int = 6,
        max_looks: int = 50,
        sleep: Callable[[float], None] = deadline.pause,
    ) -> None:
        self.max_failures = max_failures
        self.max_looks = max_looks
        self.sleep = sleep
        self.failures = 0
        self.looks = 0
        self.throttled = False  # whether the last failure was DynamoDB refusing throughput

    def remain(self) -> bool:
        self.looks += 1
        return self.failures < self.max_failures and self.looks <= self.max_looks

    def failed(self, *, throttled: bool = False) -> None:
        self.throttled = throttled
        self.back_off(self.failures)
        self.failures += 1

    def exhausted(self) -> ApiError:
        """The error to give up with: 429 when DynamoDB last refused throughput, else 503."""
        return Throttled() if self.throttled else Unavailable()

    def lost_race(self) -> None:
        self.back_off(0)

    def back_off(self, attempt: int) -> None:
        self.sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))  # noqa: S311 - jitter  # nosec B311


def batch_get(
    client: DynamoDBClient, keys_by_table: dict[str, list[Item]], retries: Retries
) -> dict[str, list[Item]]:
    """Strongly consistent reads of up to 100 keys across tables, in one round trip unless
    DynamoDB hands some keys back unprocessed."""
    if sum(map(len, keys_by_table.values())) > BATCH_GET_LIMIT:
        raise ValueError(f"at most {BATCH_GET_LIMIT} keys in one batch")
    found: dict[str, list[Item]] = {table: [] for table in keys_by_table}
    pending: dict[str, Any] = {
        table: {"Keys": keys, "ConsistentRead": True}
        for table, keys in keys_by_table.items()
        if keys
    }
    while pending:
        if not retries.remain():
            raise retries.exhausted()
        with translated_errors():
            response = client.batch_get_item(RequestItems=pending)
        for table, items in response.get("Responses", {}).items():
            found[table] += items
        pending = response.get("UnprocessedKeys") or {}
        if pending:  # DynamoDB had no capacity for these
            retries.failed(throttled=True)
    return found


def batch_write_deletes(
    client: DynamoDBClient, deletes: Sequence[tuple[str, Item]], retries: Retries
) -> None:
    """Delete items (table, key) 25 at a time; deleting what is already gone is no error."""
    for start in range(0, len(deletes), BATCH_WRITE_LIMIT):
        pending: dict[str, list[Any]] = {}
        for table, key in deletes[start : start + BATCH_WRITE_LIMIT]:
            pending.setdefault(table, []).append({"DeleteRequest": {"Key": key}})
        while pending:
            if not retries.remain():
                raise retries.exhausted()
            with translated_errors():
                response = client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if pending:  # DynamoDB had no capacity for these
                retries.failed(throttled=True)


def write_item(write: Callable[[], T], retries: Retries) -> T:
    """A single-item write (PutItem, UpdateItem, DeleteItem), tried again while it meets a
    transaction on its item (botocore does not retry that). The write must be idempotent."""
    while True:
        try:
            with translated_errors():
                return write()
        except Contended:
            retries.failed()
            if not retries.remain():
                raise


class KeyRange(NamedTuple):
    """Items of one partition whose sort key lies in [low, high] (None: open on that side),
    plus an optional filter."""

    table: str
    partition: tuple[str, str]  # (attribute, value)
    sort_key: str
    low: str | None = None
    high: str | None = None
    filter_expression: str | None = None
    filter_values: Mapping[str, AttributeValue] = MappingProxyType({})
    filter_names: Mapping[str, str] = MappingProxyType({})


def query_page(
    client: DynamoDBClient,
    scope: KeyRange,
    cursor: PageCursor | KeyCursor | None,
    size: int,
    parse: Callable[[Item], T | None],
    read_budget: int | None = None,
) -> Page[T]:
    """One page of `scope` in sort-key order, resuming just past the cursor: every list's.

    It reads one item beyond the page to know whether another page follows. The cursor
    narrows the key range itself (not ExclusiveStartKey), so a token can never point outside
    the range it was issued for. `parse` may leave an item out (None), as a filter would. With
    a `read_budget`, a filtered range stops after reading about that many items (whatever they
    matched) and the page ends where it stopped: the cost and time of a page stay bounded
    however rarely the filter matches.
    """
    ahead = forward(cursor)
    condition = _key_condition(scope, cursor)
    if condition is None:  # an empty range; DynamoDB refuses BETWEEN with bounds reversed
        return Page([], cursor is not None and ahead, not ahead)
    expression, bounds = condition
    attribute, value = scope.partition
    request: dict[str, Any] = {
        "TableName": scope.table,
        "ConsistentRead": True,
        "ScanIndexForward": ahead,
        "KeyConditionExpression": expression,
        "ExpressionAttributeNames": {"#pk": attribute, **scope.filter_names},
        "ExpressionAttributeValues": {
            ":pk": {"S": value},
            **{name: {"S": bound} for name, bound in bounds.items()},
            **scope.filter_values,
        },
    }
    if "#sk" in expression:  # DynamoDB refuses a name the expressions do not use
        request["ExpressionAttributeNames"]["#sk"] = scope.sort_key
    if scope.filter_expression:
        request["FilterExpression"] = scope.filter_expression
    read = _query(client, request, parse, scope.sort_key, wanted=size + 1, budget=read_budget)
    more = len(read.found) > size
    items = read.found[:size]
    stopped = None if more else read.stopped_at
    if ahead:
        return Page(items, cursor is not None, more or stopped is not None, last_key=stopped)
    items.reverse()
    return Page(items, more or stopped is not None, True, first_key=stopped)


def _key_condition(
    scope: KeyRange, cursor: PageCursor | KeyCursor | None
) -> tuple[str, dict[str, str]] | None:
    """The query's key condition and the values of its bounds; None for an empty range.

    A SID cursor narrows the range to the SIDs just past it (SIDs have neighbours). A key of
    any text has none, so a key cursor pages a whole partition, compared with its key."""
    low, high = scope.low, scope.high
    if low is None and high is None and not isinstance(cursor, PageCursor):
        if cursor is None:
            return "#pk = :pk", {}
        comparison = ">" if cursor.direction is Direction.AFTER else "<"
        if cursor.inclusive:
            comparison += "="
        return f"#pk = :pk AND #sk {comparison} :key", {":key": cursor.key}
    if low is None or high is None or isinstance(cursor, KeyCursor):
        raise ValueError("a key cursor pages a whole partition, a SID cursor a range of SIDs")
    if cursor is not None and cursor.direction is Direction.AFTER:
        low = max(low, successor(cursor.sid))
    elif cursor is not None:
        high = min(high, predecessor(cursor.sid))
    if low > high:
        return None
    return "#pk = :pk AND #sk BETWEEN :low AND :high", {":low": low, ":high": high}


class _Read(NamedTuple, Generic[T]):
    found: list[T]
    stopped_at: str | None  # the sort key of the last item read, when the budget ran out


def _query(
    client: DynamoDBClient,
    request: dict[str, Any],
    parse: Callable[[Item], T | None],
    sort_key: str,
    wanted: int,
    budget: int | None,
) -> _Read[T]:
    """Up to `wanted` items of the query that `parse` keeps; `budget` bounds the items read in
    all. DynamoDB's Limit counts items read, not matched: after a round trip that its filter
    (or `parse`) thinned, a query asks for what the rate of matches so far predicts the rest
    needs - at most twice what it asked before - so that a rare match costs few round trips."""
    found: list[T] = []
    read = 0
    limit = wanted
    while len(found) < wanted:
        if budget is not None:
            limit = min(limit, budget - read)
        with translated_errors():
            response = client.query(**request, Limit=limit)
        found += [kept for item in response.get("Items", []) if (kept := parse(item)) is not None]
        read += int(response.get("ScannedCount", limit))
        last = response.get("LastEvaluatedKey")
        if last is None:
            break
        request["ExclusiveStartKey"] = last
        needed = wanted - len(found)
        if budget is not None and read >= budget and needed > 0:
            return _Read(found, last[sort_key]["S"])
        # As many as the rate of matches so far says the rest needs, at most twice as many as
        # the last round trip read (and exactly the rest when nothing is filtered out).
        expected = -(-needed * read // len(found)) if found else 2 * limit
        limit = max(needed, min(expected, 2 * limit))
    return _Read(found, None)
