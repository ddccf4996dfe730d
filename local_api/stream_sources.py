"""Lambda's DynamoDB stream event sources, locally, and DynamoDB's TTL.

A poller per function and stream reads the table's stream (moto keeps one shard) in order and
invokes the function with batches of records shaped as Lambda shapes them. Then it moves on as
Lambda does: past the batch when the function succeeded; back to the record a
ReportBatchItemFailures answer names (or to the batch's start when the function failed); and,
after `MaximumRetryAttempts` failed tries, past the batch (Lambda would hand it to the mapping's
OnFailure destination; here it is logged).

A mapping's FilterCriteria are honoured: records that match none of its patterns are passed
over, and a batch of none is not delivered.

TTL: DynamoDB deletes an item some time after its TTL attribute has passed, and the table's
stream names DynamoDB as the deleter. moto keeps the TTL setting but never deletes: the
sweeper does, every few seconds, and the pollers mark the REMOVE records of its deletes with
DynamoDB's `userIdentity`, as Lambda would receive them - every poller of the table, each once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from local_api.polling import PollingThread
from local_api.runtime import LocalFunctions
from local_api.template import SamTemplate, StreamEventSource

log = logging.getLogger("local_api.streams")

SWEEP_SECONDS = 5.0
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def failed_sequence(
    records: Sequence[Mapping[str, Any]], response: Any, report_batch_item_failures: bool
) -> str | None:
    """Where Lambda resumes a stream batch after the function returned `response`: None past
    the batch, else the sequence number of the first record to read again.

    With ReportBatchItemFailures the lowest sequence number named; an empty or null
    itemIdentifier, one not in the batch, or a response that is not an object retries the
    whole batch, as in Lambda."""
    if not report_batch_item_failures or response is None:
        return None
    first = records[0]["dynamodb"]["SequenceNumber"]
    if not isinstance(response, dict):
        return str(first)
    failures = response.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return str(first)
    sequences = {str(record["dynamodb"]["SequenceNumber"]) for record in records}
    named = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in sequences:
            return str(first)
        named.append(identifier)
    return min(named, key=int) if named else None


class TtlSweeper:
    """DynamoDB's TTL for the template's tables that enable it: deletes expired items (only
    while still expired), and remembers which deletes were its own."""

    def __init__(self, client: Any, template: SamTemplate, table_names: Mapping[str, str]):
        self.client = client
        self.attributes = {
            table_names[logical_id]: spec["AttributeName"]
            for logical_id, properties in template.tables.items()
            if (spec := properties.get("TimeToLiveSpecification", {})).get("Enabled")
        }
        # Each delete of the sweeper's, and the readers of its table that have not yet seen it.
        self._deleted: dict[tuple[str, str], set[int]] = {}
        self._readers: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def register(self, reader: object, table: str) -> None:
        """`reader` reads the stream of `table`: it will ask whether each delete was ours."""
        with self._lock:
            self._readers.setdefault(table, set()).add(id(reader))

    def sweep_once(self, now: float | None = None) -> int:
        """Delete every item whose TTL attribute is at or before `now`; how many went."""
        moment = int(time.time() if now is None else now)
        deleted = 0
        for table, attribute in self.attributes.items():
            for item in self._expired(table, attribute, moment):
                key = {name: item[name] for name in self._key_names(table)}
                marker = (table, _canonical(key))
                with self._lock:
                    self._deleted[marker] = set(self._readers.get(table, ()))
                try:
                    self.client.delete_item(
                        TableName=table,
                        Key=key,
                        ConditionExpression="#ttl = :expires",
                        ExpressionAttributeNames={"#ttl": attribute},
                        ExpressionAttributeValues={":expires": item[attribute]},
                    )
                except self.client.exceptions.ConditionalCheckFailedException:
                    with self._lock:  # written again meanwhile: no longer expired
                        self._deleted.pop(marker, None)
                    continue
                deleted += 1
        return deleted

    def took(self, table: str, keys: Mapping[str, Any], reader: object) -> bool:
        """Whether the delete of this item was the sweeper's: answered once per delete to each
        registered reader of the table."""
        marker = (table, _canonical(keys))
        with self._lock:
            waiting = self._deleted.get(marker)
            if waiting is None or id(reader) not in waiting:
                return False
            waiting.remove(id(reader))
            if not waiting:
                del self._deleted[marker]
        return True

    def _expired(self, table: str, attribute: str, moment: int) -> Iterable[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": table,
            "FilterExpression": "#ttl <= :now",
            "ExpressionAttributeNames": {"#ttl": attribute},
            "ExpressionAttributeValues": {":now": {"N": str(moment)}},
        }
        while True:
            page = self.client.scan(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _key_names(self, table: str) -> list[str]:
        schema = self.client.describe_table(TableName=table)["Table"]["KeySchema"]
        return [part["AttributeName"] for part in schema]


class StreamPoller(PollingThread):
    """What one DynamoDB event source mapping does: read the stream, invoke, move on."""

    def __init__(
        self,
        functions: LocalFunctions,
        function: str,
        source: StreamEventSource,
        table: str,
        dynamodb: Any,
        streams: Any,
        sweeper: TtlSweeper | None = None,
        *,
        starting_position: str = "TRIM_HORIZON",
    ) -> None:
        self.functions = functions
        self.function = function
        self.source = source
        self.table = table
        self.dynamodb = dynamodb
        self.streams = streams
        self.sweeper = sweeper
        self.gave_up: list[str] = []  # the first sequence number of each batch given up
        self._position = starting_position
        self._arn = ""
        self._iterator: str | None = None
        self._attempts = 0
        # Sequence numbers of the sweeper's deletes read and not yet moved past: a batch read
        # again (a retry, or after next_batch) still names DynamoDB as their deleter.
        self._swept: set[str] = set()
        if sweeper is not None:
            sweeper.register(self, table)
        super().__init__(f"stream-{table}-{function}")

    def start(self) -> None:
        self.open()
        super().start()

    def next_batch(self) -> dict[str, Any] | None:
        """The event the function is invoked with next (None: nothing new yet). Reading it
        does not move the poller on: the next poll delivers the same records."""
        event, _, _ = self._read()
        return event

    def poll_once(self) -> int:
        """Read one batch, invoke the function with it, move on; the number of records read."""
        event, after, read = self._read()
        if event is None:
            self._move_past(read, after)  # nothing new, or nothing the filters admit
            return len(read)
        records = event["Records"]
        try:
            response = self.functions.invoke(self.function, event)
            resume = failed_sequence(records, response, self.source.report_batch_item_failures)
        except Exception:
            log.exception("%s failed on a batch of %d records", self.function, len(records))
            resume = str(records[0]["dynamodb"]["SequenceNumber"])
        if resume is None:
            self._move_past(read, after)
            return len(read)
        self._attempts += 1
        limit = self.source.maximum_retry_attempts
        if 0 <= limit < self._attempts:
            first = str(records[0]["dynamodb"]["SequenceNumber"])
            log.error("%s: gave up on the batch from %s", self.function, first)
            self.gave_up.append(first)
            self._move_past(read, after)
            return len(read)
        self._iterator = self.streams.get_shard_iterator(
            StreamArn=self._arn,
            ShardId=self._shard,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=resume,
        )["ShardIterator"]
        return len(read)

    def drain(self, most: int = 10_000) -> int:
        """Poll until the stream has nothing new (tests drive pollers this way); records read."""
        total = 0
        while (read := self.poll_once()) and total < most:
            total += read
        return total

    def open(self) -> None:
        """Take a shard iterator at the starting position (start() does)."""
        self._arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        description = self.streams.describe_stream(StreamArn=self._arn)["StreamDescription"]
        self._shard = description["Shards"][0]["ShardId"]
        self._iterator = self.streams.get_shard_iterator(
            StreamArn=self._arn, ShardId=self._shard, ShardIteratorType=self._position
        )["ShardIterator"]

    def _move_past(self, sequences: list[str], after: str) -> None:
        self._attempts, self._iterator = 0, after
        self._swept.difference_update(sequences)

    def _read(self) -> tuple[dict[str, Any] | None, str, list[str]]:
        """The next batch as Lambda's event (None: nothing new, or nothing the mapping's
        filters admit), the iterator past it, and the sequence numbers of every record read."""
        if self._iterator is None:
            self.open()
        size = self.source.batch_size
        answer = self.streams.get_records(ShardIterator=self._iterator, Limit=size)
        records = [self._as_lambda_gives(record) for record in answer.get("Records", [])]
        admitted = [record for record in records if self.source.admits(record)]
        read = [str(record["dynamodb"]["SequenceNumber"]) for record in records]
        return ({"Records": admitted} if admitted else None), answer["NextShardIterator"], read

    def _as_lambda_gives(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record as Lambda's event carries it: epoch seconds, the stream's ARN, and the
        deleter's identity for TTL's deletes."""
        shaped = json.loads(json.dumps(record, default=_epoch_seconds))
        shaped["eventSourceARN"] = self._arn
        change = shaped["dynamodb"]
        sequence = change["SequenceNumber"]
        if (
            shaped["eventName"] == "REMOVE"
            and self.sweeper is not None
            and (sequence in self._swept or self.sweeper.took(self.table, change["Keys"], self))
        ):
            self._swept.add(sequence)
            shaped["userIdentity"] = dict(TTL_IDENTITY)
        return dict(shaped)


class Sweeping(PollingThread):
    """The sweeper on a thread of its own, every `interval` seconds."""

    def __init__(self, sweeper: TtlSweeper, interval: float = SWEEP_SECONDS) -> None:
        self.sweeper = sweeper
        self.idle_seconds = self.max_idle_seconds = interval
        super().__init__("ttl-sweeper")

    def poll_once(self) -> int:
        self.sweeper.sweep_once()
        return 0  # then a pause of `interval`, whatever it deleted


def stream_pollers(
    functions: LocalFunctions,
    table_names: Mapping[str, str],
    dynamodb: Any,
    streams: Any,
    sweeper: TtlSweeper | None,
    *,
    starting_position: str = "TRIM_HORIZON",
) -> list[StreamPoller]:
    """A poller (not started) for every DynamoDB stream event source of the functions."""
    return [
        StreamPoller(
            functions,
            function.logical_id,
            source,
            table_names[source.table],
            dynamodb,
            streams,
            sweeper,
            starting_position=starting_position,
        )
        for function in functions.functions.values()
        for source in function.stream_sources
    ]


def _canonical(keys: Mapping[str, Any]) -> str:
    return json.dumps(keys, sort_keys=True, separators=(",", ":"))


def _epoch_seconds(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON")
