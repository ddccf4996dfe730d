"""Counting the requests a botocore client sends, by operation: DynamoDB round trips.

A handler's cost in DynamoDB is mostly its round trips. `counting(client)` hooks the client's
`before-send` event, which botocore emits once per HTTP attempt: its own retries count, and so
does every page of a paginated call or every repeat of a transaction. It is registered after
the deadline guard of `notify_bindings.platform.deadline` (which registers first and may refuse an
attempt before it is sent), so a refused attempt is not counted; and it runs whether the
request then goes over the wire (a moto server, DynamoDB) or is answered by moto's in-process
mock, which answers at the same event.

    with counting(dependencies.dynamodb()) as trips:
        functions.invoke("FetchBindingFunction", event)
    assert trips.total == 1, trips
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_hook_ids = itertools.count()


class RoundTrips:
    """Requests sent so far, by operation name (`GetItem`, `TransactWriteItems`, ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_operation: Counter[str] = Counter()

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._by_operation.values())

    @property
    def by_operation(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._by_operation.items()))

    def reset(self) -> None:
        with self._lock:
            self._by_operation.clear()

    def sent(self, event_name: str, **_: Any) -> None:
        """The `before-send` hook: one request of the operation the event names."""
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self._by_operation[operation] += 1

    def __repr__(self) -> str:
        detail = ", ".join(f"{name} {count}" for name, count in self.by_operation.items())
        return f"{self.total} round trip(s): {detail or 'none'}"


@contextmanager
def counting(client: Any, trips: RoundTrips | None = None) -> Iterator[RoundTrips]:
    """Count `client`'s requests (into `trips`, or a new RoundTrips) until the block ends."""
    trips = trips if trips is not None else RoundTrips()
    events = client.meta.events
    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}"
    hook_id = f"round-trips-{next(_hook_ids)}"
    events.register(event, trips.sent, unique_id=hook_id)
    try:
        yield trips
    finally:
        events.unregister(event, unique_id=hook_id)
