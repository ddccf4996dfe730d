"""Change events: what each record of the bindings table's stream means, published to an
EventBridge bus.

The bindings table holds one item per address, so its stream holds every change of every
binding, in order per address (and so per binding), at least once:

- INSERT: a binding was created at a free address;
- MODIFY: a new binding replaced the one at its address (another SID) - or took the address of
  one that had expired by then, which makes two events, that one's expiry and the creation -
  or an unchanged re-create moved the binding's expiry (the same SID: no event);
- REMOVE: the binding went. Why, the stream does not say: DynamoDB's TTL names itself as the
  deleter; every other removal wrote a removal item beside it (see `domain/bindings.Removal`),
  except the purge of a deleted Service, whose Service item says so.

So each expired binding is published once, as `expired`, when its address item goes (TTL) or
is taken. Removing an expired binding's index items is not this function's work but the
clean-up's (`operations/expiry.py`), which reads the same stream on its own: a bus that refuses
events holds up the events, never the clean-up.

What an event says is `domain/changes.ChangeEvent`'s detail: never the address.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from notify_bindings.dal.bindings.store import BindingStore
from notify_bindings.dal.streams import StreamRecord
from notify_bindings.domain.bindings import Binding, RemovalCause
from notify_bindings.domain.changes import Change, ChangeEvent
from notify_bindings.platform.observability import failure, logger

SOURCE = "notify-bindings"
# PutEvents takes at most 10 entries.
PUT_EVENTS_LIMIT = 10
# The event_id of an expiry that a create at the address made known is the record's and this.
EXPIRED_SUFFIX = ":expired"


def entry(event: ChangeEvent, bus_name: str) -> dict[str, Any]:
    """The event's PutEvents entry."""
    return {
        "Source": SOURCE,
        "DetailType": event.change.detail_type,
        "Detail": json.dumps(event.detail(), ensure_ascii=False, separators=(",", ":")),
        "EventBusName": bus_name,
        "Time": event.occurred_at,
    }


def changes(
    records: Sequence[StreamRecord],
    store: BindingStore,
    service_gone: Callable[[str, str], bool],
) -> Iterator[tuple[StreamRecord, list[ChangeEvent]]]:
    """Each record with the events it makes (none for an expiry refresh), in order; a failure
    raises, and the records before it have been yielded. `service_gone(account, service)`
    tells whether a Service has been deleted."""
    causes = _causes(records, store)
    for record in records:
        yield record, _events(record, causes, service_gone)


def _causes(records: Sequence[StreamRecord], store: BindingStore) -> dict[str, RemovalCause]:
    """Why the bindings our removals took went, as their removal items say: one read."""
    by_service: dict[str, list[str]] = {}
    for record in records:
        if (binding := record.removed_by_us) is not None:
            by_service.setdefault(binding.service_sid, []).append(binding.sid)
    causes: dict[str, RemovalCause] = {}
    for service_sid, sids in by_service.items():
        causes.update(store.removal_of(service_sid, sids))
    return causes


def _events(
    record: StreamRecord,
    causes: Mapping[str, RemovalCause],
    service_gone: Callable[[str, str], bool],
) -> list[ChangeEvent]:

    def made(
        change: Change,
        binding: Binding,
        previous: Binding | None = None,
        reason: str | None = None,
        suffix: str = "",
    ) -> ChangeEvent:
        return ChangeEvent(
            record.event_id + suffix,
            record.sequence,
            change,
            binding,
            record.occurred_at,
            previous,
            reason,
        )

    if record.name == "INSERT" and record.new is not None:
        return [made(Change.CREATED, record.new)]
    if record.name == "MODIFY" and record.new is not None and record.old is not None:
        new, old = record.new, record.old
        if new.sid == old.sid:
            return []  # the same binding, its expiry moved on
        if old.expired_at(new.date_created.timestamp()):
            # The create found the address free: the binding there had expired (as the store
            # decides it, by the new binding's creation time).
            return [made(Change.EXPIRED, old, suffix=EXPIRED_SUFFIX), made(Change.CREATED, new)]
        return [made(Change.REPLACED, new, previous=old)]
    if record.name != "REMOVE" or record.old is None:
        raise ValueError(f"unexpected stream record {record.name}")
    binding = record.old
    if record.by_ttl:
        return [made(Change.EXPIRED, binding)]
    cause = causes.get(binding.sid)
    if cause is not None:
        removal, reason = cause
        return [made(Change(removal.value), binding, reason=reason)]
    if service_gone(binding.account_sid, binding.service_sid):
        return [made(Change.SERVICE_DELETED, binding)]
    return [made(Change.REMOVED, binding)]


class Published:
    """The outcome of publishing a batch: how many events went, and the first record that did
    not (None: all did)."""

    def __init__(self) -> None:
        self.events = 0
        self.failed_at: StreamRecord | None = None

    def response(self) -> dict[str, Any]:
        """Lambda's answer for a stream batch with ReportBatchItemFailures: Lambda retries from
        the failed record on, so order per binding holds."""
        failures = [] if self.failed_at is None else [{"itemIdentifier": self.failed_at.sequence}]
        return {"batchItemFailures": failures}


def publish(
    raw_records: Sequence[Mapping[str, Any]],
    *,
    store: BindingStore,
    put_events: Callable[..., Any],
    bus_name: str,
    service_gone: Callable[[str, str], bool],
) -> Published:
    """Publish the events of a stream batch in order, PUT_EVENTS_LIMIT at a time, stopping at
    the first record whose event could not be made or published."""
    records = [StreamRecord.of(record) for record in raw_records]
    outcome = Published()
    pending: list[tuple[StreamRecord, dict[str, Any]]] = []

    def flush() -> bool:
        if not pending:
            return True
        response = put_events(Entries=[entry for _, entry in pending])
        results = response.get("Entries", [])
        for position, (record, _) in enumerate(pending):
            result = results[position] if position < len(results) else {"ErrorCode": "Missing"}
            if "ErrorCode" in result or "EventId" not in result:
                outcome.failed_at = record
                return False
            outcome.events += 1
        pending.clear()
        return True

    done = 0  # records whose event was made (or that make none)
    try:
        for record, events in changes(records, store, service_gone):
            for event in events:
                if len(pending) == PUT_EVENTS_LIMIT and not flush():
                    return outcome
                pending.append((record, entry(event, bus_name)))
            done += 1
        flush()
    except Exception as error:
        # Making an event failed (a read) or PutEvents did: Lambda retries from the first
        # record not published. Logged by type, never by message.
        outcome.failed_at = pending[0][0] if pending else records[done]
        logger.warning("Publishing change events stopped", extra=failure(error))
    return outcome
