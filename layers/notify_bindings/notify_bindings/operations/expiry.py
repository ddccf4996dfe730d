"""The clean-up of expired bindings: for each delete by DynamoDB's TTL in the bindings table's
stream, what still indexes and counts the binding goes (`BindingStore.forget_expired`, in
`dal/bindings/removals.py`).

It reads the stream on its own (an event source mapping of its own, filtered to TTL's deletes),
so that it waits on nothing else - the change events' bus least of all - and it is idempotent:
a record delivered again finds nothing left to take. Until it has run, nothing is wrong that
anyone can see: every read leaves an expired binding out and every write treats it as gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from notify_bindings.dal.bindings.store import BindingStore
from notify_bindings.dal.streams import StreamRecord
from notify_bindings.platform.observability import failure, logger


class Forgotten:
    """What a batch came to: bindings cleaned up, ones found cleaned up already, and the first
    record that failed (None: none did)."""

    def __init__(self) -> None:
        self.forgotten = 0
        self.already = 0
        self.failed_at: str | None = None  # its sequence number

    def response(self) -> dict[str, Any]:
        """Lambda's answer for a stream batch with ReportBatchItemFailures: it retries from the
        failed record on."""
        failures = [] if self.failed_at is None else [{"itemIdentifier": self.failed_at}]
        return {"batchItemFailures": failures}


def forget_expired(raw_records: Sequence[Mapping[str, Any]], *, store: BindingStore) -> Forgotten:
    """Clean up after each TTL delete of the batch, in order, stopping at the first failure.
    Records that are not TTL's deletes (the event source's filter lets none through) are
    passed over."""
    outcome = Forgotten()
    for raw in raw_records:
        try:
            binding = StreamRecord.of(raw).expired
            if binding is None:
                continue
            if store.forget_expired(binding):
                outcome.forgotten += 1
            else:
                outcome.already += 1
        except Exception as error:
            # Logged by type, never by message (records hold addresses).
            outcome.failed_at = str(raw.get("dynamodb", {}).get("SequenceNumber", ""))
            logger.warning("Forgetting expired bindings stopped", extra=failure(error))
            break
    return outcome
