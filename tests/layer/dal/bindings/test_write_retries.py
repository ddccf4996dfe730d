"""How a write retries: losing a race to another write is not a DynamoDB failure.

A fake client injects the cancellations, which moto cannot be made to produce on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from notify_bindings.dal.bindings.store import BindingStore
from notify_bindings.dal.dynamo import Retries
from notify_bindings.domain.bindings import Outcome, PutResult
from notify_bindings.platform.errors import Unavailable
from notify_bindings.platform.sids import new_sid
from tests.factories import new_binding, put_binding

BINDINGS, INDEX, SERVICES = "bindings", "index", "services"
MAX_FAILURES = 6

# Cancellation reasons for the items of one transaction, by position; None: it commits.
Verdict = Callable[[list[dict[str, Any]]], list[str] | None]


def address_taken(items: list[dict[str, Any]]) -> list[str]:
    """Another write took the address first: the address item's condition fails."""
    (address_item,) = (
        position
        for position, item in enumerate(items)
        if next(iter(item.values()))["TableName"] == BINDINGS
    )
    return [
        "ConditionalCheckFailed" if position == address_item else "None"
        for position in range(len(items))
    ]


def conflicted(items: list[dict[str, Any]]) -> list[str]:
    return ["TransactionConflict"] * len(items)


class FakeClient:
    """A live Service without bindings, whose transactions end as `verdicts` say, one verdict
    per transaction."""

    def __init__(self, *verdicts: Verdict) -> None:
        self.verdicts = list(verdicts)
        self.transactions = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        return {
            "Responses": {
                table: [service_item(key) for key in request["Keys"]] if table == SERVICES else []
                for table, request in RequestItems.items()
            }
        }

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


def service_item(key: dict[str, Any]) -> dict[str, Any]:
    """The live Service at `key`, as ServicesTable holds it."""
    return {
        **key,
        "DateCreated": {"S": "2026-01-15T09:41:20.000+00:00"},
        "DateUpdated": {"S": "2026-01-15T09:41:20.000+00:00"},
    }


def commits(_: list[dict[str, Any]]) -> None:
    return None


@pytest.fixture
def sleeps() -> list[float]:
    return []


def store_on(client: FakeClient, sleeps: list[float]) -> BindingStore:
    return BindingStore(
        client,
        BINDINGS,
        INDEX,
        SERVICES,
        retries=lambda: Retries(max_failures=MAX_FAILURES, sleep=sleeps.append),
    )


def put(client: FakeClient, sleeps: list[float]) -> PutResult:
    """Create a binding in a Service of the fake's, through a store that sleeps into `sleeps`."""
    return put_binding(store_on(client, sleeps), new_binding(new_sid("IS"), "alice", "device-1"))


def test_given_other_writes_win_the_address_twice_when_put_then_the_third_look_creates(sleeps):
    client = FakeClient(address_taken, address_taken, commits)

    result = put(client, sleeps)

    assert result.outcome is Outcome.CREATED
    assert client.transactions == 3
    assert len(sleeps) == 2
    assert all(0 <= pause <= 0.02 for pause in sleeps)  # a jitter, not a back-off


def test_given_more_losing_writers_than_failures_allowed_when_put_then_it_still_succeeds(sleeps):
    losses = 19  # as when twenty creates of one address start together
    client = FakeClient(*[address_taken] * losses, commits)

    result = put(client, sleeps)

    assert result.outcome is Outcome.CREATED
    assert client.transactions == losses + 1


def test_given_writes_that_always_win_the_address_when_put_then_it_gives_up_unavailable(sleeps):
    client = FakeClient(address_taken)

    with pytest.raises(Unavailable):
        put(client, sleeps)

    assert client.transactions == Retries().max_looks


def test_given_dynamodb_keeps_conflicting_when_put_then_it_backs_off_and_gives_up(sleeps):
    client = FakeClient(conflicted)

    with pytest.raises(Unavailable):
        put(client, sleeps)

    assert client.transactions == MAX_FAILURES
    assert len(sleeps) == MAX_FAILURES
    assert all(pause <= min(0.5, 0.02 * 2**attempt) for attempt, pause in enumerate(sleeps))
