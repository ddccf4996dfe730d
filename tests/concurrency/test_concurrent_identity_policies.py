"""Races for an identity under our extensions (design.md invariants 2 and 4): creates racing at
the limit of a Service that evicts the oldest binding, and an erasure racing creates for the
same identity. Every item is audited afterwards (tests/invariants.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from notify_bindings.dal.services import ServiceStore
from notify_bindings.domain.bindings import (
    MAX_BINDINGS_PER_IDENTITY,
    IdentityBindingLimitPolicy,
    Outcome,
)
from notify_bindings.domain.services import Service
from notify_bindings.platform.sids import new_sid
from tests.concurrency.conftest import RaceTables
from tests.concurrency.racing import race
from tests.concurrency.test_concurrent_limits import outcomes
from tests.factories import new_binding, put_binding

LIMIT = MAX_BINDINGS_PER_IDENTITY
FOUR_TAGS = ("news", "vip", "beta", "sports")


def evicting_service(tables: RaceTables) -> str:
    now = datetime.now(UTC)
    service = Service(
        new_sid("IS"),
        tables.account_sid,
        now,
        now,
        identity_binding_limit_policy=IdentityBindingLimitPolicy.EVICT_OLDEST,
    )
    ServiceStore(tables.client, tables.services_table).create(service)
    return service.sid


def erasing(tables: RaceTables, service_sid: str) -> set[str]:
    item = tables.client.get_item(
        TableName=tables.services_table,
        Key={"AccountSid": {"S": tables.account_sid}, "Sid": {"S": service_sid}},
        ConsistentRead=True,
    )["Item"]
    return set(item.get("ErasingIdentities", {}).get("SS", []))


def test_given_evict_oldest_when_40_creates_race_for_one_identity_then_all_succeed_and_exactly_20_remain(  # noqa: E501
    race_tables: RaceTables,
) -> None:
    service = evicting_service(race_tables)
    store = race_tables.store()
    bindings = [
        new_binding(service, "alice", f"device-{number:02}", tags=("racer",))
        for number in range(2 * LIMIT)
    ]

    finished = race([partial(put_binding, store, binding) for binding in bindings])

    assert outcomes(finished) == {Outcome.CREATED.value: 2 * LIMIT}
    results = [done.value for done in finished if done.value is not None]
    evicted = {result.evicted.sid for result in results if result.evicted is not None}
    created = {result.binding.sid for result in results}
    audit = race_tables.audit(service)
    assert audit.bindings_per_identity == {"alice": LIMIT}
    assert len(evicted) == LIMIT  # each eviction took a binding no other eviction took
    assert set(audit.sids_by_identity["alice"]) == created - evicted


def test_given_evict_oldest_and_an_identity_at_its_limit_when_10_new_creates_race_then_they_evict_exactly_the_10_oldest(  # noqa: E501
    race_tables: RaceTables,
) -> None:
    service = evicting_service(race_tables)
    store = race_tables.store()
    old = [new_binding(service, "alice", f"old-{n:02}", tags=("old",)) for n in range(LIMIT)]
    for binding in old:
        put_binding(store, binding)
    new = [new_binding(service, "alice", f"new-{n:02}", tags=("fresh",)) for n in range(10)]
    # Least recently created first: SIDs begin with their creation time (then random bits).
    by_age = sorted(old, key=lambda binding: binding.sid)
    assert by_age[-1].sid < min(binding.sid for binding in new)

    finished = race([partial(put_binding, store, binding) for binding in new])

    # Each eviction takes the oldest binding left, and every old one is older than every new
    # one: whatever order the creates commit in, the 10 oldest go, and only they.
    assert outcomes(finished) == {Outcome.CREATED.value: 10}
    evicted = [done.value.evicted.sid for done in finished if done.value and done.value.evicted]
    assert sorted(evicted) == [binding.sid for binding in by_age[:10]]
    audit = race_tables.audit(service)
    assert set(audit.sids_by_identity["alice"]) == {b.sid for b in by_age[10:] + new}


def test_given_an_erasure_racing_creates_for_the_same_identity_then_none_of_its_old_bindings_remain_every_create_succeeds_and_no_mark_is_left(  # noqa: E501
    race_tables: RaceTables, race_service: str
) -> None:
    store = race_tables.store()
    # Three transactions to erase; with the creates, never more than the limit.
    old = [new_binding(race_service, "alice", f"old-{n:02}", tags=FOUR_TAGS) for n in range(5)]
    for binding in old:
        put_binding(store, binding)
    bob = new_binding(race_service, "bob", "bob-device", tags=FOUR_TAGS)
    put_binding(store, bob)
    new = [new_binding(race_service, "alice", f"new-{n:02}") for n in range(15)]
    erase = partial(store.erase, race_tables.account_sid, race_service, "alice")

    operations: list[Callable[[], object]] = [
        erase,
        *(partial(put_binding, store, binding) for binding in new),
        erase,
    ]
    finished = race(operations)

    assert [done.error for done in finished] == [None] * len(operations)
    assert True in (finished[0].value, finished[-1].value)  # an erasure found alice's bindings
    audit = race_tables.audit(race_service)
    remaining = set(audit.sids_by_identity.get("alice", ()))
    assert remaining <= {binding.sid for binding in new}  # none of the old ones
    assert audit.sids_by_identity["bob"] == (bob.sid,)
    assert erasing(race_tables, race_service) == set()
    user = store.get_user(race_tables.account_sid, race_service, "alice")
    assert ({b.sid for b in user.bindings} if user else set()) == remaining
