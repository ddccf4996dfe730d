"""moto, fast enough for a Service of 100,000 bindings, counting what it always counts.

Four things make moto 5.2.5 too slow for that; each is narrowed, and only the first leaves
out any of moto's own code:

- Writing. A BatchWriteItem request spends most of its time in botocore's and moto's
  (de)serialisation, and each item written re-measures the whole item for every attribute it
  sets (quadratic in its attributes): over 6 s per 1,000 bindings, so 100,000 bindings
  (about a million items) would take over 10 minutes. `store()`, the last resort, puts Items
  into moto's tables as its put_item stores them, without put_item's checks (key types and
  sizes, the 400 KB limit, the condition): for items shaped like ones that passed them.
- Querying. Everywhere the project runs moto, local_api.moto_patches narrows a Query on a
  table's own key to the part of the partition that moto's walk can reach, sorting the
  partition per request (about a quarter of a second for a partition of 100,000). While
  `frozen()`, the partition is sorted once and kept, and an item's size (which moto measures
  twice per item per request) is measured once.
- Answering and comparing. moto serialises each answer against the service model, attribute
  value by attribute value: half a millisecond per item returned. `faster()` answers reads
  (GetItem, BatchGetItem, Query, Scan) with their result dumped as JSON, which is what that
  serialiser makes of them; and it short-cuts the value moto compares a string attribute by
  (moto tries five other types before concluding it is the string itself).

tests/bench/test_moto_at_scale.py checks that answers and counts are moto's own. Everything
else goes to moto untouched. The kept partitions and sizes are only right while no item is
written: leave `frozen()` before writing.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from local_api import moto_patches

_lock = threading.Lock()
# (table name, partition key value) -> (sort-key values, items), both in sort-key order
_partitions: dict[tuple[str, Any], tuple[list[Any], list[Any]]] = {}
_sized: list[Any] = []  # the items whose size is remembered while frozen


def backend() -> Any:
    """moto's DynamoDB of this process (in-process mock or embedded server alike)."""
    from local_api.runtime import LOCAL_REGION

    backends = _moto("dynamodb.models").dynamodb_backends
    return backends[_moto("core.models").DEFAULT_ACCOUNT_ID][LOCAL_REGION]


def _moto(module: str) -> Any:
    """A module of moto, untyped: this module patches its classes."""
    return importlib.import_module(f"moto.{module}")


def store(table_name: str, items: list[dict[str, Any]]) -> None:
    """Store items in moto's table as its put_item stores them - an Item of converted values
    under its hash and range key - without put_item's checks (key types and sizes, the item
    size, the condition), for items shaped like items that passed them. An attribute value
    object that several items hold (every index item of a binding holds its attribute values)
    is converted once and shared: nothing here changes a stored value in place."""
    dynamo_type = _moto("dynamodb.models.dynamo_type")
    DynamoType, Item = dynamo_type.DynamoType, dynamo_type.Item  # noqa: N806 - moto's classes
    table = backend().get_table(table_name)
    shared: dict[int, Any] = {}  # id of a value object of `items` (alive meanwhile) -> converted
    keys: dict[tuple[str, str], Any] = {}  # a key attribute's (type, value) -> converted
    key_names = {table.hash_key_attr, table.range_key_attr}
    for raw in items:
        attrs = dynamo_type.LimitedSizeDict()
        for name, value in raw.items():
            if name in key_names:
                ((kind, text),) = value.items()
                converted = keys.get((kind, text))
                if converted is None:
                    converted = keys[kind, text] = DynamoType(value)
            else:
                converted = shared.get(id(value))
                if converted is None:
                    converted = shared[id(value)] = DynamoType(value)
            dict.__setitem__(attrs, name, converted)
        item = Item.__new__(Item)
        item.hash_key = attrs[table.hash_key_attr]
        item.range_key = attrs[table.range_key_attr] if table.range_key_attr else None
        item.attrs = attrs
        if item.range_key is None:
            table.items[item.hash_key] = item
        else:
            table.items[item.hash_key][item.range_key] = item


# What a read answers: moto serialises it against the service model, attribute value by
# attribute value, which costs more than the read itself (half a millisecond an item).
_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})


@contextmanager
def faster() -> Iterator[None]:
    """Meanwhile, reads answer with their result as JSON text (keys without a value left
    out), which is what moto's serialiser makes of these results, at a fraction of the cost
    (those holding bytes, which JSON cannot hold, go to that serialiser);
    and a string attribute value is its own value for comparisons, as moto concludes after
    ruling out every other type one by one."""
    DynamoType = _moto("dynamodb.models.dynamo_type").DynamoType  # noqa: N806 - moto's
    DynamoResult = _moto("dynamodb.responses").DynamoResult  # noqa: N806 - classes

    moto_execute = DynamoResult.execute_result
    moto_cast = DynamoType.cast_value

    def cast_value(self: Any) -> Any:
        return self.value if self.type == "S" else moto_cast.fget(self)

    def execute_result(self: Any, context: Any) -> Any:
        operation = context.operation_model
        if operation.name not in _READS or not isinstance(self.result, dict):
            return moto_execute(self, context)
        version = operation.service_model.metadata.get("jsonVersion", "1.0")
        body = {name: value for name, value in self.result.items() if value is not None}
        try:
            text = json.dumps(body)
        except TypeError:  # a binary value held as bytes: moto's serialiser encodes it
            return moto_execute(self, context)
        return 200, {"Content-Type": f"application/x-amz-json-{version}"}, text

    with _lock:
        DynamoResult.execute_result = execute_result
        DynamoType.cast_value = property(cast_value)
    try:
        yield
    finally:
        with _lock:
            DynamoResult.execute_result = moto_execute
            DynamoType.cast_value = moto_cast


@contextmanager
def frozen() -> Iterator[None]:
    """Serve Queries from sorted partitions meanwhile; nothing may be written meanwhile."""
    Item = _moto("dynamodb.models.dynamo_type").Item  # noqa: N806 - moto's
    Table = _moto("dynamodb.models.table").Table  # noqa: N806 - classes

    with _lock:
        patched_query, moto_size = Table.query, Item.size
        Table.query = moto_patches.partition_query(moto_patches.motos_query(), _partition)
        Item.size = _size_measured_once(moto_size)
    try:
        yield
    finally:
        with _lock:
            Table.query, Item.size = patched_query, moto_size
            _partitions.clear()
            for item in _sized:
                item.__dict__.pop("_frozen_size", None)
            _sized.clear()


def _size_measured_once(moto_size: Callable[[Any], int]) -> Callable[[Any], int]:
    def size(self: Any) -> int:
        remembered = self.__dict__.get("_frozen_size")
        if remembered is None:
            remembered = self.__dict__["_frozen_size"] = moto_size(self)
            _sized.append(self)
        return int(remembered)

    return size


def _partition(table: Any, hash_key: Any) -> tuple[list[Any], list[Any]]:
    cache_key = (table.name, hash_key)
    stored = table.items.get(hash_key, {})
    cached = _partitions.get(cache_key)
    if cached is None or len(cached[1]) != len(stored):
        items = sorted(stored.values(), key=lambda item: item.range_key.value)
        cached = ([item.range_key.value for item in items], items)
        _partitions[cache_key] = cached
    return cached
