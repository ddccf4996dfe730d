"""Running operations truly at once: worker threads held at a barrier, then released together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

WORKERS = 32
_BARRIER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Finished(Generic[T]):
    """One operation's result or error, and when it ran (time.monotonic)."""

    value: T | None
    error: Exception | None
    started: float
    ended: float


def run_lanes(lanes: Sequence[Callable[[], T]]) -> list[T]:
    """Run each lane on a thread of its own, all released at once; their results, in order.

    An exception in a lane is raised here, after every lane has finished.
    """
    barrier = threading.Barrier(len(lanes))

    def run(lane: Callable[[], T]) -> T:
        barrier.wait(timeout=_BARRIER_TIMEOUT)
        return lane()

    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        futures = [pool.submit(run, lane) for lane in lanes]
        return [future.result() for future in futures]


def race(operations: Sequence[Callable[[], T]], workers: int = WORKERS) -> list[Finished[T]]:
    """Run the operations on `workers` threads released together; what each did, in order."""
    lanes = min(workers, len(operations))
    finished: list[Finished[T] | None] = [None] * len(operations)

    def lane(first: int) -> Callable[[], None]:
        def run() -> None:
            for index in range(first, len(operations), lanes):
                finished[index] = attempt(operations[index])

        return run

    run_lanes([lane(first) for first in range(lanes)])
    done = [outcome for outcome in finished if outcome is not None]
    assert len(done) == len(operations)
    return done


def attempt(operation: Callable[[], T]) -> Finished[T]:
    started = time.monotonic()
    try:
        value = operation()
    except Exception as error:
        return Finished(None, error, started, time.monotonic())
    return Finished(value, None, started, time.monotonic())
