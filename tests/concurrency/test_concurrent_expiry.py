"""Races around expired bindings (design.md invariants 1, 2 and 4, and exact expiry): the
clean-up of a TTL-deleted binding, racing creates that take its place at its identity's limit
and at its address, and an erasure of its identity - whoever comes first takes what is left of
it, nobody takes it twice, and no write is blocked."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial
from typing import Any

from notify_bindings.domain.bindings import MAX_BINDINGS_PER_IDENTITY, Binding, Outcome
from notify_bindings.platform.errors import IdentityLimitExceeded
from tests.concurrency.conftest import RaceTables
from tests.concurrency.racing import race
from tests.factories import new_binding, put_binding


def expired_binding(race_tables: RaceTables, service: str, identity: str, address: str) -> Binding:
    """A binding of `identity` that expired a minute ago and whose address item DynamoDB's TTL
    deleted: its index items, copy and place in the count are still there."""
    binding = replace(
        new_binding(service, identity, address, tags=("racer",)),
        expires_at=int(time.time()) - 60,
    )
    put_binding(race_tables.store(), binding)
    race_tables.client.delete_item(
        TableName=race_tables.bindings_table,
        Key={"ServiceSid": {"S": service}, "Address": {"S": address}},
    )
    return binding


def test_given_an_identity_at_its_limit_with_a_ttl_deleted_binding_when_creates_and_clean_ups_race_then_one_create_takes_its_place(  # noqa: E501
    race_tables: RaceTables, race_service: str
) -> None:
    store = race_tables.store()
    lapsed = expired_binding(race_tables, race_service, "alice", "gone")
    for number in range(MAX_BINDINGS_PER_IDENTITY - 1):
        put_binding(store, new_binding(race_service, "alice", f"live-{number:02}"))
    newcomers = [new_binding(race_service, "alice", f"new-{n}") for n in range(6)]
    at_its_address = new_binding(race_service, "bob", "gone", tags=("racer",))
    operations: list[Any] = [partial(put_binding, store, b) for b in newcomers]
    operations.append(partial(put_binding, store, at_its_address))
    operations += [partial(store.forget_expired, lapsed) for _ in range(4)]

    finished = race(operations)

    creates, clean_ups = finished[: len(newcomers) + 1], finished[len(newcomers) + 1 :]
    made = [done.value for done in creates if done.value is not None]
    refused = [done.error for done in creates if done.error is not None]
    assert all(isinstance(error, IdentityLimitExceeded) for error in refused), refused
    assert len(made) == 2  # bob's, and one of alice's six: the expired one's place
    assert {result.outcome for result in made} == {Outcome.CREATED}
    assert all(done.error is None for done in clean_ups)
    assert sum(bool(done.value) for done in clean_ups) <= 1  # taken once at most
    audit = race_tables.audit(race_service)
    assert audit.bindings_per_identity == {"alice": MAX_BINDINGS_PER_IDENTITY, "bob": 1}
    assert audit.sid_by_address["gone"] == at_its_address.sid
    assert audit.expired_indexed == frozenset()  # nothing of it left: nobody needs a retry


def test_given_an_identity_with_a_ttl_deleted_binding_when_its_erasure_races_the_clean_up_then_both_finish_and_nothing_is_left(  # noqa: E501
    race_tables: RaceTables, race_service: str
) -> None:
    store = race_tables.store()
    lapsed = expired_binding(race_tables, race_service, "carol", "gone")
    for number in range(3):
        put_binding(store, new_binding(race_service, "carol", f"live-{number}"))
    operations: list[Any] = [
        partial(store.erase, race_tables.account_sid, race_service, "carol") for _ in range(2)
    ]
    operations += [partial(store.forget_expired, lapsed) for _ in range(3)]

    finished = race(operations)

    assert [done.error for done in finished] == [None] * len(operations)
    assert any(done.value for done in finished[:2])  # one erasure found carol's live bindings
    audit = race_tables.audit(race_service)
    assert audit.sids_by_identity == {}
    assert audit.expired_indexed == audit.expired_addressed == frozenset()
