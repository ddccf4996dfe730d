"""Change events: a binding created, replaced or removed, and why - what the change-event
function publishes for each record of the bindings table's stream (`operations/changes.py`).

Events never carry the address. Each has an `event_id`, the stream record's, the same however
often the record is delivered, and a `sequence`, the record's sequence number: EventBridge does
not keep order between deliveries, so a consumer that cares orders a binding's events by it
(compared as integers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from notify_bindings.domain.bindings import Binding, Removal


class Change(Enum):
    CREATED = "created"
    REPLACED = "replaced"
    DELETED = Removal.DELETED.value
    ERASED = Removal.ERASED.value
    EVICTED = Removal.EVICTED.value
    DEAD_ADDRESS = Removal.DEAD_ADDRESS.value
    EXPIRED = Removal.EXPIRED.value
    SERVICE_DELETED = Removal.SERVICE_DELETED.value
    # A removal whose cause was not recorded: none of ours, but a hand-made delete, say.
    REMOVED = "removed"

    @property
    def detail_type(self) -> str:
        """The event's DetailType, for EventBridge rules: "Binding Created", ..."""
        return "Binding " + self.value.replace("_", " ").title()


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    event_id: str
    sequence: str
    change: Change
    binding: Binding  # the binding created, or the one that went
    occurred_at: datetime
    previous: Binding | None = None  # the binding a replace replaced
    reason: str | None = None  # how a push service reported a dead address

    def detail(self) -> dict[str, Any]:
        """The event's detail: SIDs, identity and binding type; never the address."""
        detail: dict[str, Any] = {
            "event_id": self.event_id,
            "sequence": self.sequence,
            "change": self.change.value,
            "account_sid": self.binding.account_sid,
            "service_sid": self.binding.service_sid,
            "binding_sid": self.binding.sid,
            "identity": self.binding.identity,
            "binding_type": self.binding.binding_type.value,
            "occurred_at": self.occurred_at.isoformat(timespec="seconds"),
        }
        if self.previous is not None:
            detail["previous_binding_sid"] = self.previous.sid
            detail["previous_identity"] = self.previous.identity
            detail["previous_binding_type"] = self.previous.binding_type.value
        if self.reason is not None:
            detail["reason"] = self.reason
        return detail
