"""The records of the bindings table's DynamoDB stream, as Lambda hands them to the functions
that read it: the change-event publisher and the clean-up of expired bindings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from notify_bindings.dal.bindings.items import binding_from
from notify_bindings.domain.bindings import Binding

# How DynamoDB's TTL appears as the deleter in a stream record.
TTL_DELETER = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


class StreamRecord(NamedTuple):
    """What the functions need of one record of a DynamoDB stream event."""

    event_id: str
    sequence: str
    name: str  # INSERT, MODIFY or REMOVE
    new: Binding | None
    old: Binding | None
    occurred_at: datetime
    by_ttl: bool

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> StreamRecord:
        change = record["dynamodb"]
        new, old = change.get("NewImage"), change.get("OldImage")
        return cls(
            event_id=record["eventID"],
            sequence=change["SequenceNumber"],
            name=record["eventName"],
            new=binding_from(new) if new else None,
            old=binding_from(old) if old else None,
            occurred_at=_moment(change.get("ApproximateCreationDateTime")),
            by_ttl=_is_ttl(record.get("userIdentity")),
        )

    @property
    def removed_by_us(self) -> Binding | None:
        """The binding a removal of ours (not TTL's) took; None for any other record."""
        return self.old if self.name == "REMOVE" and not self.by_ttl else None

    @property
    def expired(self) -> Binding | None:
        """The binding whose address item DynamoDB's TTL deleted; None for any other record."""
        return self.old if self.name == "REMOVE" and self.by_ttl else None


def _is_ttl(identity: Any) -> bool:
    return isinstance(identity, Mapping) and all(
        identity.get(key) == value for key, value in TTL_DELETER.items()
    )


def _moment(value: Any) -> datetime:
    """ApproximateCreationDateTime: epoch seconds in Lambda's events (a string elsewhere)."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)
