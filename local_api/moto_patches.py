"""Make moto's DynamoDB transactions cost what the transaction touches, and leave no stream
record when they are cancelled.

moto 5.2.5's `transact_write_items` deep-copies every table a transaction touches, once per
item in it, so that it can roll back a cancelled transaction. A write's cost then grows with
everything stored: after a few hundred bindings a create takes seconds. Here the transaction
snapshots only the items it names, and a cancelled one puts those back. Semantics are moto's
own otherwise (conditions, cancellation reasons, errors); only the rollback is narrower,
which is exact because a transaction changes no item it does not name.

Callers serialise requests (the embedded server answers one at a time), as moto's full-table
rollback needs anyway.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_installed = threading.Lock()


def install() -> None:
    """Patch moto's DynamoDB backend, once per process."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    with _installed:
        backend = models.DynamoDBBackend
        if getattr(backend.transact_write_items, "item_level_rollback", False):
            return
        moto_transaction = backend.transact_write_items

        class _CopiesButTables:
            """What the transaction sees as `copy`: tables are not copied, all else is."""

            @staticmethod
            def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
                return value if isinstance(value, Table) else copy.deepcopy(value, memo)

        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            snapshots = [_snapshot(self, entry) for entry in transact_items]
            streams = _stream_ends(self, transact_items)
            namespace = vars(models)  # the `copy` moto's transaction code looks up
            namespace["copy"] = _CopiesButTables
            try:
                moto_transaction(self, transact_items)
            except Exception:
                for snapshot in reversed(snapshots):
                    if snapshot is not None:
                        _restore(self, *snapshot)
                # moto applies a transaction's writes one by one, each adding a stream record,
                # and so does the rollback: a cancelled transaction leaves no record behind.
                for shard, end in streams:
                    del shard.items[end:]
                raise
            finally:
                namespace["copy"] = copy

        transact_write_items.item_level_rollback = True  # type: ignore[attr-defined]
        backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _stream_ends(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, int]]:
    """The stream shard of each table the transaction names, and its length now."""
    names = {next(iter(entry.values())).get("TableName") for entry in transact_items}
    shards = [backend.tables[name].stream_shard for name in names if name in backend.tables]
    return [(shard, len(shard.items)) for shard in shards if shard is not None]


def _snapshot(backend: Any, entry: dict[str, Any]) -> tuple[str, dict[str, Any], Any] | None:
    """(table, key, the item's attributes or None) for one transaction item."""
    operation, request = next(iter(entry.items()))
    table_name = request.get("TableName")
    if table_name not in backend.tables:
        return None
    table = backend.tables[table_name]
    try:
        if operation == "Put":
            attributes = (table.hash_key_attr, table.range_key_attr)
            key = {name: request["Item"][name] for name in attributes if name}
        else:
            key = request["Key"]
        current = backend.get_item(table_name, key)
    except Exception:  # a malformed item: moto's own validation will refuse it
        return None
    return table_name, key, current.to_json()["Attributes"] if current else None


def _restore(backend: Any, table_name: str, key: dict[str, Any], attributes: Any) -> None:
    if attributes is None:
        if backend.get_item(table_name, key) is not None:
            backend.delete_item(table_name, key)
    else:
        backend.put_item(table_name, attributes)
