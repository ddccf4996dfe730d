"""A storm of creates, replaces, identical re-creates and deletes over a few addresses and
identities (design.md invariants 1-4): afterwards every item agrees, every list agrees with
the items, and every SID a create returned is either there or was taken away by a later
operation."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from functools import partial

from notify_bindings.api.requests.fields import MAX_PAGE_SIZE
from notify_bindings.dal.bindings.store import BindingStore
from notify_bindings.domain.bindings import (
    MAX_BINDINGS_PER_IDENTITY,
    Binding,
    BindingFilters,
    BindingType,
    Outcome,
    PutResult,
)
from tests.concurrency.conftest import RaceTables
from tests.concurrency.racing import WORKERS, Finished, attempt, run_lanes
from tests.factories import new_binding, put_binding

SEED = 20_261_126
LANES = WORKERS // 2
STEPS_PER_LANE = 13  # 208 operations
# Few addresses and identities, so that operations keep meeting on the same items. (Every
# transaction costs moto a copy of each table per item written: small tables keep it quick.)
IDENTITIES = ("ann", "ben", "cal")
ADDRESSES = tuple(f"token-{number:02}" for number in range(12))
TAGS = ("red", "blue", "all")


@dataclass(frozen=True)
class Put:
    binding: Binding
    finished: Finished[PutResult]


@dataclass(frozen=True)
class Delete:
    sid: str
    finished: Finished[Binding | None]


def storm_lane(
    store: BindingStore, account_sid: str, service_sid: str, lane: int
) -> list[Put | Delete]:
    """One thread's share of the storm: its own random sequence, from a fixed seed."""
    rng = random.Random(SEED * 100 + lane)
    created: list[str] = []  # SIDs this lane created: the ones it may delete
    returned: list[Binding] = []  # every binding its creates returned: to create again
    done: list[Put | Delete] = []
    for _ in range(STEPS_PER_LANE):
        roll = rng.random()
        if created and roll < 0.2:
            sid = rng.choice(created)
            done.append(Delete(sid, attempt(partial(store.delete, account_sid, service_sid, sid))))
            continue
        if returned and roll < 0.45:
            earlier = rng.choice(returned[-4:])
            binding = new_binding(
                service_sid,
                earlier.identity,
                earlier.address,
                account_sid=account_sid,
                binding_type=earlier.binding_type,
                tags=earlier.tags,
            )
        else:
            binding = new_binding(
                service_sid,
                rng.choice(IDENTITIES),
                rng.choice(ADDRESSES),
                account_sid=account_sid,
                binding_type=rng.choice((BindingType.APN, BindingType.FCM)),
                tags=tuple(rng.sample(TAGS, rng.randint(0, 2))),
            )
        put = Put(binding, attempt(partial(put_binding, store, binding)))
        done.append(put)
        if put.finished.value:
            returned.append(put.finished.value.binding)
            if put.finished.value.binding.sid == binding.sid:
                created.append(binding.sid)
    return done


def sids_listed(
    store: BindingStore, account_sid: str, service_sid: str, filters: BindingFilters
) -> list[str]:
    page = store.list_page(account_sid, service_sid, filters, None, MAX_PAGE_SIZE)
    assert not page.more_after
    return [binding.sid for binding in page.items]


def test_given_a_storm_of_writes_when_it_is_over_then_items_lists_and_sids_agree(
    race_tables: RaceTables, race_service: str
) -> None:
    store, account = race_tables.store(), race_tables.account_sid

    lanes = run_lanes(
        [partial(storm_lane, store, account, race_service, lane) for lane in range(LANES)]
    )

    operations = [operation for lane in lanes for operation in lane]
    puts = [operation for operation in operations if isinstance(operation, Put)]
    deletes = [operation for operation in operations if isinstance(operation, Delete)]
    assert len(operations) == LANES * STEPS_PER_LANE
    # No identity can reach the limit with this few addresses: no operation may fail.
    assert len(ADDRESSES) < MAX_BINDINGS_PER_IDENTITY
    assert [operation.finished.error for operation in operations if operation.finished.error] == []
    # The storm did what it is meant to: every kind of outcome happened.
    outcomes = Counter(put.finished.value.outcome for put in puts if put.finished.value)
    assert set(outcomes) == set(Outcome), outcomes
    deleted = {delete.finished.value.sid: delete for delete in deletes if delete.finished.value}
    assert deleted

    # Invariants 1, 2 and 4: the items agree with each other.
    audit = race_tables.audit(race_service)
    assert all(count <= MAX_BINDINGS_PER_IDENTITY for count in audit.bindings_per_identity.values())

    # Lists (by identity, by all identities, unfiltered) show exactly what the items hold.
    for identity in IDENTITIES:
        listed = sids_listed(store, account, race_service, BindingFilters(identities=(identity,)))
        assert listed == list(audit.sids_by_identity.get(identity, ()))
    everything = sorted(audit.sids)
    assert (
        sids_listed(store, account, race_service, BindingFilters(identities=IDENTITIES))
        == everything
    )
    assert sids_listed(store, account, race_service, BindingFilters()) == everything

    # Invariant 3: a SID that a create returned is there, or a later delete or replace took it.
    returned = {put.finished.value.binding.sid: put for put in puts if put.finished.value}
    assert audit.sids <= set(returned), "a binding that no create returned"
    for sid, put in returned.items():
        result = put.finished.value
        assert result is not None
        fetched = store.get(account, race_service, sid)
        if fetched is not None:
            assert fetched == result.binding
            assert audit.sid_by_address[fetched.address] == sid
            continue
        assert sid not in audit.sids
        replaced_later = any(
            other.finished.value.outcome is Outcome.REPLACED
            and other.finished.value.binding.sid != sid
            and other.binding.address == result.binding.address
            and other.finished.ended > put.finished.started
            for other in puts
            if other.finished.value
        )
        assert sid in deleted or replaced_later, f"{sid} vanished"
    # A deleted SID stays gone: SIDs are never issued twice.
    assert deleted.keys() <= returned.keys()
    assert all(store.get(account, race_service, sid) is None for sid in deleted)
