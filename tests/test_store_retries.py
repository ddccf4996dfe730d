"""How a write retries: losing a race to another write is not a DynamoDB failure.

A fake client injects the cancellations, which moto cannot be made to produce on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from notify_bindings import store as store_module
from notify_bindings.errors import Unavailable
from notify_bindings.sids import new_sid
from notify_bindings.store import BindingStore, Outcome
from tests.factories import new_binding

# Cancellation reasons for the items of one transaction, by position; None: it commits.
Verdict = Callable[[list[dict[str, Any]]], list[str] | None]


def address_taken(items: list[dict[str, Any]]) -> list[str]:
    """Another write took the address first: the address item's condition fails."""
    return ["ConditionalCheckFailed"] + ["None"] * (len(items) - 1)


def conflicted(items: list[dict[str, Any]]) -> list[str]:
    return ["TransactionConflict"] * len(items)


class FakeClient:
    """An empty table whose transactions end as `verdicts` say, one verdict per transaction."""

    def __init__(self, *verdicts: Verdict) -> None:
        self.verdicts = list(verdicts)
        self.transactions = 0

    def get_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **_: Any) -> None:  # noqa: N803
        verdict = self.verdicts[min(self.transactions, len(self.verdicts) - 1)]
        self.transactions += 1
        reasons = verdict(TransactItems)
        if reasons is not None:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": [{"Code": reason} for reason in reasons],
                },
                "TransactWriteItems",
            )


def commits(_: list[dict[str, Any]]) -> None:
    return None


@pytest.fixture
def sleeps() -> list[float]:
    return []


def store_on(client: FakeClient, sleeps: list[float]) -> BindingStore:
    return BindingStore(client, "bindings", "index", max_attempts=6, sleep=sleeps.append)


def test_given_other_writes_win_the_address_twice_when_put_then_the_third_look_creates(sleeps):
    client = FakeClient(address_taken, address_taken, commits)
    binding = new_binding(new_sid("IS"), "alice", "device-1")

    result = store_on(client, sleeps).put(binding)

    assert result.outcome is Outcome.CREATED
    assert client.transactions == 3
    assert len(sleeps) == 2
    assert all(0 <= pause <= 0.02 for pause in sleeps)  # a jitter, not a back-off


def test_given_more_losing_writers_than_failures_allowed_when_put_then_it_still_succeeds(sleeps):
    losses = 19  # as when twenty creates of one address start together
    client = FakeClient(*[address_taken] * losses, commits)

    result = store_on(client, sleeps).put(new_binding(new_sid("IS"), "alice", "device-1"))

    assert result.outcome is Outcome.CREATED
    assert client.transactions == losses + 1


def test_given_writes_that_always_win_the_address_when_put_then_it_gives_up_unavailable(sleeps):
    client = FakeClient(address_taken)

    with pytest.raises(Unavailable):
        store_on(client, sleeps).put(new_binding(new_sid("IS"), "alice", "device-1"))

    assert client.transactions == store_module._MAX_LOOKS


def test_given_dynamodb_keeps_conflicting_when_put_then_it_backs_off_and_gives_up(sleeps):
    client = FakeClient(conflicted)

    with pytest.raises(Unavailable):
        store_on(client, sleeps).put(new_binding(new_sid("IS"), "alice", "device-1"))

    assert client.transactions == 6
    assert len(sleeps) == 6
    assert all(pause <= min(0.5, 0.02 * 2**attempt) for attempt, pause in enumerate(sleeps))
