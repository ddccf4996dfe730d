"""Make moto's DynamoDB cost what a request touches rather than everything stored, with
moto's own answers: transactions, and Queries.

Transactions. moto 5.2.5's `transact_write_items` deep-copies every table a transaction
touches, once per item in it, so that it can roll back a cancelled transaction. A write's cost
then grows with everything stored: after a few hundred bindings a create takes seconds. Here
the transaction snapshots only the items it names, and a cancelled one puts those back.
Semantics are moto's own otherwise (conditions, cancellation reasons, errors); only the
rollback is narrower, which is exact because a transaction changes no item it does not name.
A cancelled transaction leaves no stream record either.

Queries. moto answers a Query on a table's own key by gathering every item of the table,
sorting them all, keeping the partition's, sorting those, and walking them from the first to
find where the key range and the ExclusiveStartKey begin, deep-copying each: a list page of a
Service of 10,000 bindings takes seconds, whatever the page's size. Here a forward Query on
a table's own key (no sort-key condition, or a BETWEEN one) still runs moto's own query code,
but hands it, in place of the whole table, the partition's items in sort-key order from where
the request starts (bisected) to one past where it must stop: its Limit, or the item that
takes its answer past moto's 1 MB, and one more item past the key range. moto walks those
exactly as it would walk them in the whole table (key condition, Limit, the 1 MB cap,
ScannedCount, LastEvaluatedKey, then the filter) and never reaches the items left out. It
copies the list, not the items: nothing downstream changes them (the filter reads them, the
answer serialises them). Every other Query is moto's, untouched.

Callers serialise requests (the embedded server answers one at a time), as moto's full-table
rollback needs anyway: both patches swap the `copy` moto's code looks up for their duration.
"""

from __future__ import annotations

import copy
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

Partition = Callable[[Any, Any], tuple[list[Any], list[Any]]]

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
        query = partition_query(Table.query, sorted_partition)
        query.moto_query = Table.query  # type: ignore[attr-defined]
        Table.query = query  # type: ignore[method-assign]


def installed() -> bool:
    """Whether this process's moto is patched."""
    from moto.dynamodb import models

    return bool(getattr(models.DynamoDBBackend.transact_write_items, "item_level_rollback", False))


def motos_query() -> Callable[..., Any]:
    """moto's own Table.query, whether or not it is patched."""
    from moto.dynamodb.models.table import Table

    return getattr(Table.query, "moto_query", Table.query)


def sorted_partition(table: Any, hash_key: Any) -> tuple[list[Any], list[Any]]:
    """The partition's sort-key values and items, both in sort-key order, as stored now."""
    items = sorted(table.items.get(hash_key, {}).values(), key=lambda item: item.range_key.value)
    return [item.range_key.value for item in items], items


class _ShallowCopies:
    """What a partition query sees as `copy`: the list is copied, not the items."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return list(value) if isinstance(value, list) else copy.deepcopy(value, memo)

    copy = staticmethod(copy.copy)


def partition_query(moto_query: Callable[..., Any], partition: Partition) -> Callable[..., Any]:
    """moto's Table.query, handed only the items of the partition (`partition(table, hash
    key)`: its sort-key values and items in sort-key order) that its walk can reach, when the
    Query allows it (see the module's docstring); moto's own query otherwise."""
    from moto.dynamodb.models import table as table_module

    def query(
        self: Any,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: int | None,
        exclusive_start_key: dict[str, Any] | None,
        scan_index_forward: bool,
        projection_expressions: Any,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: list[Any] | None = None,
        range_key_conditions: list[Any] | None = None,
        **filter_kwargs: Any,
    ) -> Any:
        arguments = [
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            consistent_read,
            filter_expression,
        ]
        conditions = {
            "hash_key_conditions": hash_key_conditions,
            "range_key_conditions": range_key_conditions,
            **filter_kwargs,
        }
        sort_key = self.range_key_attr
        usable = (
            index_name is None
            and hash_key is not None
            and sort_key is not None
            and self.range_key_type == "S"  # the bisection compares strings
            and scan_index_forward is not False
            and not projection_expressions  # a projection might change the items
            and not filter_kwargs  # the legacy QueryFilter
            and len(hash_key_conditions or []) <= 1
            and (
                (range_comparison is None and not range_key_conditions)
                or (
                    range_comparison == "BETWEEN"
                    and [name for name, *_ in range_key_conditions or []] == [sort_key]
                )
            )
        )
        if not usable:
            return moto_query(self, *arguments, **conditions)
        keys, items = partition(self, hash_key)
        first, end = 0, len(keys)
        if range_comparison == "BETWEEN":
            first = bisect_left(keys, range_objs[0].value)
            end = bisect_right(keys, range_objs[1].value)
        if exclusive_start_key:
            start_after = next(iter(exclusive_start_key[sort_key].values()))
            first = max(first, bisect_right(keys, start_after))
        candidates, past_range = _evaluated(
            items, first, end, limit, table_module.RESULT_SIZE_LIMIT
        )
        arguments[4] = None  # the ExclusiveStartKey: the candidates begin after it
        if not past_range:  # every candidate is in the key range: no need to compare
            arguments[1], arguments[2] = None, []
            conditions["range_key_conditions"] = []
        self.all_items = lambda: candidates  # where moto's query gathers the partition
        vars(table_module)["copy"] = _ShallowCopies
        try:
            return moto_query(self, *arguments, **conditions)
        finally:
            vars(table_module)["copy"] = copy
            del self.all_items

    return query


def _evaluated(
    items: list[Any], first: int, end: int, limit: int | None, cap: int
) -> tuple[list[Any], bool]:
    """The items moto's walk reaches: from `first` to the one where Limit or the size cap stops
    it, or to the end of the key range and one item beyond it; and whether that one is there."""
    if limit:
        stop = min(first + limit + 1, end)
    else:
        size, stop = 0, first
        while stop < end and size <= cap:
            size += items[stop].size()
            stop += 1
    past_range = stop == end and end < len(items)
    if past_range:
        stop += 1  # moto looks at the first item past the range before it stops
    return items[first:stop], past_range


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
