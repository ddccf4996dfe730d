"""What a write of bindings puts in its transaction (a plan), a step at a time: the items of a
binding that come or go together, and the conditions that keep them agreeing (design.md
invariant 4; the layout is in `store.py`'s docstring). Building a plan touches no DynamoDB;
running it is one TransactWriteItems.
"""

from __future__ import annotations

from notify_bindings.dal.bindings.items import (
    ERASING,
    Tables,
    address_item,
    address_key,
    binding_attributes,
    holds,
    identity_key,
    index_keys,
    removal_item,
    stats_key,
)
from notify_bindings.dal.dynamo import Cancelled, DynamoDBClient, Item, Retries, Transaction
from notify_bindings.dal.services import LIVE, service_key
from notify_bindings.domain.bindings import MAX_BINDINGS_PER_IDENTITY, Binding, Removal
from notify_bindings.platform.errors import Unavailable


class Plan:
    """One transaction of writes to bindings' items. Each step that adds an item whose
    condition may fail returns its index, to find its reason if the transaction is cancelled.
    `now` (epoch seconds) dates the removal items it writes."""

    def __init__(self, tables: Tables, now: float) -> None:
        self.transaction = Transaction()
        self._tables = tables
        self._now = now

    @property
    def size(self) -> int:
        """How many items it holds (DynamoDB takes at most MAX_TRANSACTION_ITEMS)."""
        return len(self.transaction.items)

    def run(self, client: DynamoDBClient) -> None:
        self.transaction.run(client)

    def commit(self, client: DynamoDBClient, retries: Retries) -> bool:
        """Run the plan once: True when it committed. Otherwise `retries` hears why - a
        condition failed (something changed meanwhile: look again soon), or DynamoDB failed it
        or its outcome is unknown (back off; the next look tells whether it happened)."""
        try:
            self.run(client)
        except Cancelled as cancelled:
            if any(cancelled.failed(at) for at in range(len(cancelled.reasons))):
                retries.lost_race()
            else:
                retries.failed(throttled=cancelled.throttled)
            return False
        except Unavailable:
            retries.failed()
            return False
        return True

    def guard_service(self, account_sid: str, service_sid: str) -> int:
        """The Service is live and the account's: every write checks it."""
        return self.transaction.add(
            "ConditionCheck",
            self._tables.services,
            Key=service_key(account_sid, service_sid),
            ConditionExpression=LIVE,
        )

    def mark_erasing(self, account_sid: str, service_sid: str, identity: str, *, on: bool) -> int:
        """Add the identity to the Service item's ErasingIdentities (`on`), or take it out;
        conditioned on the Service being live, as `guard_service` is."""
        action = "ADD" if on else "DELETE"
        return self.transaction.add(
            "Update",
            self._tables.services,
            Key=service_key(account_sid, service_sid),
            UpdateExpression=f"{action} {ERASING} :me",
            ConditionExpression=LIVE,
            ExpressionAttributeValues={":me": {"SS": [identity]}},
        )

    def put_address(self, binding: Binding, *, replacing: Binding | None) -> int:
        """The binding's address item, while the address holds `replacing` (None: nothing)."""
        return self.transaction.add(
            "Put", self._tables.bindings, Item=address_item(binding), **holds(replacing)
        )

    def add_to_index(self, binding: Binding) -> None:
        attributes = binding_attributes(binding)
        for key in index_keys(binding):
            self.transaction.add("Put", self._tables.index, Item={**key, **attributes})

    def remove_from_index(self, binding: Binding) -> None:
        for key in index_keys(binding):
            self.transaction.add("Delete", self._tables.index, Key=key)

    def record_removal(self, binding: Binding, removal: Removal, detail: str | None) -> None:
        """A removal item that says why the binding went (its change event reads it)."""
        item = removal_item(binding, removal, detail, self._now)
        self.transaction.add("Put", self._tables.index, Item=item)

    def remove_binding(self, binding: Binding, removal: Removal, detail: str | None = None) -> int:
        """Its address item (while it still holds it) and its index items, and a removal item
        that says why; the index of the address item's delete, whose condition fails if the
        binding was replaced meanwhile."""
        guard = self.transaction.add(
            "Delete",
            self._tables.bindings,
            Key=address_key(binding.service_sid, binding.address),
            **holds(binding),
        )
        self.remove_from_index(binding)
        self.record_removal(binding, removal, detail)
        return guard

    def remove_address_unless_readdressed(self, binding: Binding) -> int:
        """An expired binding's address item, gone already if TTL took it; the index of its
        delete, whose condition fails when another binding holds the address now."""
        return self.transaction.add(
            "Delete",
            self._tables.bindings,
            Key=address_key(binding.service_sid, binding.address),
            ConditionExpression="attribute_not_exists(Sid) OR Sid = :sid",
            ExpressionAttributeValues={":sid": {"S": binding.sid}},
        )

    def count_many_tags(self, service_sid: str, change: int) -> None:
        if change:
            self.transaction.add(
                "Update",
                self._tables.index,
                Key=stats_key(service_sid),
                UpdateExpression="ADD ManyTagBindings :change",
                ExpressionAttributeValues={":change": {"N": str(change)}},
            )

    def grow_identity(self, binding: Binding) -> int:
        """The identity record takes a copy of `binding` and counts it, below the limit."""
        return self.transaction.add(
            "Update",
            self._tables.index,
            Key=identity_key(binding.service_sid, binding.identity),
            UpdateExpression="SET #new = :binding ADD BindingCount :one",
            ConditionExpression="attribute_not_exists(BindingCount) OR BindingCount < :limit",
            ExpressionAttributeNames={"#new": binding.sid},
            ExpressionAttributeValues={
                ":binding": {"M": binding_attributes(binding)},
                ":one": {"N": "1"},
                ":limit": {"N": str(MAX_BINDINGS_PER_IDENTITY)},
            },
        )

    def refresh_copy(self, binding: Binding) -> int:
        """The identity record's copy of `binding` rewritten (its expiry moved on), while it
        has one."""
        return self.transaction.add(
            "Update",
            self._tables.index,
            Key=identity_key(binding.service_sid, binding.identity),
            UpdateExpression="SET #sid = :binding",
            ConditionExpression="attribute_exists(#sid)",
            ExpressionAttributeNames={"#sid": binding.sid},
            ExpressionAttributeValues={":binding": {"M": binding_attributes(binding)}},
        )

    def swap_copy(self, new: Binding, old: Binding, *, at_limit: bool = False) -> int:
        """The identity record trades `old`'s copy for `new`'s: its count stays (at the limit,
        for a binding that displaces another)."""
        condition = "attribute_exists(#old)"
        values: Item = {":binding": {"M": binding_attributes(new)}}
        if at_limit:
            condition += " AND BindingCount >= :limit"
            values[":limit"] = {"N": str(MAX_BINDINGS_PER_IDENTITY)}
        return self.transaction.add(
            "Update",
            self._tables.index,
            Key=identity_key(new.service_sid, new.identity),
            UpdateExpression="SET #new = :binding REMOVE #old",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#new": new.sid, "#old": old.sid},
            ExpressionAttributeValues=values,
        )

    def shrink_identity(self, binding: Binding, *, at_limit: bool = False) -> int:
        """The identity record gives up `binding`: its copy, and one from its count (to 0 for
        the identity's last binding; the record stays, see store.py's docstring) - while the
        identity is at its limit, with `at_limit`."""
        condition = "attribute_exists(#old)"
        values: Item = {":minus_one": {"N": "-1"}}
        if at_limit:
            condition += " AND BindingCount >= :limit"
            values[":limit"] = {"N": str(MAX_BINDINGS_PER_IDENTITY)}
        return self.transaction.add(
            "Update",
            self._tables.index,
            Key=identity_key(binding.service_sid, binding.identity),
            UpdateExpression="REMOVE #old ADD BindingCount :minus_one",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#old": binding.sid},
            ExpressionAttributeValues=values,
        )

    def shrink_identity_by(self, service_sid: str, identity: str, bindings: list[Binding]) -> int:
        """The identity record gives up several bindings at once (a step of an erasure)."""
        names = {f"#b{n}": binding.sid for n, binding in enumerate(bindings)}
        return self.transaction.add(
            "Update",
            self._tables.index,
            Key=identity_key(service_sid, identity),
            UpdateExpression=f"REMOVE {', '.join(names)} ADD BindingCount :minus",
            ConditionExpression=" AND ".join(f"attribute_exists({name})" for name in names),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":minus": {"N": str(-len(bindings))}},
        )

    def delete_identity(self, service_sid: str, identity: str, bindings: list[Binding]) -> int:
        """The identity record, holding exactly `bindings`; or, all gone already, an emptied
        record or none (the last step of an erasure)."""
        names = {f"#b{n}": binding.sid for n, binding in enumerate(bindings)}
        present = " AND ".join(f"attribute_exists({name})" for name in names)
        return self.transaction.add(
            "Delete",
            self._tables.index,
            Key=identity_key(service_sid, identity),
            ConditionExpression=(
                f"BindingCount = :count AND {present}"
                if bindings
                else "attribute_not_exists(BindingCount) OR BindingCount = :count"
            ),
            ExpressionAttributeValues={":count": {"N": str(len(bindings))}},
            **({"ExpressionAttributeNames": names} if names else {}),
        )
