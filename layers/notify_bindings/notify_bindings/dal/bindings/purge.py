"""The purge of a deleted Service's bindings, a page at a time: every item of each binding, then
its identity records, its removal items and its count of many-tag bindings.

Nothing reads or writes a deleted Service's bindings any more (every read and write checks the
Service), so a purge needs no transaction: it deletes in batches, and starts again from whatever
is left each time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from notify_bindings.dal.bindings.items import (
    Tables,
    address_key,
    binding_from,
    identities_partition,
    index_keys,
    removals_partition,
    sid_key,
    stats_key,
)
from notify_bindings.dal.dynamo import (
    DynamoDBClient,
    Item,
    Retries,
    batch_write_deletes,
    translated_errors,
)
from notify_bindings.domain.bindings import Binding


class Purge:
    def __init__(
        self,
        client: DynamoDBClient,
        tables: Tables,
        *,
        retries: Callable[[], Retries],
        page_size: int,
    ) -> None:
        self._client = client
        self._tables = tables
        self._retries = retries
        self._page_size = page_size

    def purge_some(self, service_sid: str) -> bool:
        """Delete up to a page of a deleted Service's bindings; True once none are left.

        Each call starts again from whatever remains, so it is idempotent and can stop
        anywhere. Within a page the tag and address items go before the SID items, which are
        how the next call finds them: an interrupted page is found again, not orphaned.
        """
        bindings = [binding_from(item) for item in self._page(service_sid)]
        if bindings:
            self._delete_bindings(service_sid, bindings)
            return False
        records = self._page(identities_partition(service_sid), keys_only=True)
        removals = self._page(removals_partition(service_sid), keys_only=True)
        keys = [*records, *removals, stats_key(service_sid)]  # no binding is left to count
        batch_write_deletes(
            self._client, [(self._tables.index, key) for key in keys], self._retries()
        )
        return not records and not removals

    def _delete_bindings(self, service_sid: str, bindings: list[Binding]) -> None:
        index, addresses = self._tables.index, self._tables.bindings
        around = [(index, key) for binding in bindings for key in index_keys(binding)[1:]]
        around += [(addresses, address_key(b.service_sid, b.address)) for b in bindings]
        batch_write_deletes(self._client, around, self._retries())
        batch_write_deletes(
            self._client, [(index, sid_key(service_sid, b.sid)) for b in bindings], self._retries()
        )

    def _page(self, partition: str, *, keys_only: bool = False) -> list[Item]:
        """The first page of an index partition (its keys alone, with `keys_only`)."""
        request: dict[str, Any] = {
            "TableName": self._tables.index,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ConsistentRead": True,
            "Limit": self._page_size,
        }
        if keys_only:
            request["ProjectionExpression"] = "pk, sk"
        with translated_errors():
            response = self._client.query(**request)
        items: list[Item] = response.get("Items", [])
        return items
