"""Creates racing for one identity's limit and for one address (design.md invariants 1, 2, 4)."""

from __future__ import annotations

from collections import Counter
from functools import partial

from notify_bindings.domain.bindings import (
    MAX_BINDINGS_PER_IDENTITY,
    BindingFilters,
    BindingType,
    Outcome,
    PutResult,
)
from notify_bindings.platform.errors import IdentityLimitExceeded
from tests.concurrency.conftest import RaceTables
from tests.concurrency.racing import Finished, race
from tests.factories import new_binding, put_binding


def outcomes(finished: list[Finished[PutResult]]) -> Counter[str]:
    """Each create's outcome, or the name of the error it raised."""
    return Counter(
        done.value.outcome.value if done.value else type(done.error).__name__ for done in finished
    )


def test_given_40_racing_creates_for_one_identity_when_they_finish_then_exactly_20_succeed(
    race_tables: RaceTables, race_service: str
) -> None:
    store = race_tables.store()
    bindings = [
        new_binding(race_service, "alice", f"device-{number:02}", tags=("racer",))
        for number in range(2 * MAX_BINDINGS_PER_IDENTITY)
    ]

    finished = race([partial(put_binding, store, binding) for binding in bindings])

    assert outcomes(finished) == {
        Outcome.CREATED.value: MAX_BINDINGS_PER_IDENTITY,
        IdentityLimitExceeded.__name__: MAX_BINDINGS_PER_IDENTITY,
    }
    audit = race_tables.audit(race_service)
    assert audit.bindings_per_identity == {"alice": MAX_BINDINGS_PER_IDENTITY}
    created = {done.value.binding.sid for done in finished if done.value}
    assert set(audit.sids_by_identity["alice"]) == created
    refused = {
        binding.address for binding, done in zip(bindings, finished, strict=True) if done.error
    }
    assert refused.isdisjoint(audit.sid_by_address)


def test_given_20_identities_racing_for_one_address_when_they_finish_then_one_holds_it(
    race_tables: RaceTables, race_service: str
) -> None:
    store = race_tables.store()
    address = "+15550001234"
    identities = [f"user-{number:02}" for number in range(20)]
    bindings = [
        new_binding(race_service, identity, address, binding_type=BindingType.SMS)
        for identity in identities
    ]

    finished = race([partial(put_binding, store, binding) for binding in bindings])

    # Every create succeeds: the first finds the address free, each later one replaces
    # the binding it found there (none is identical: the identities differ).
    assert outcomes(finished) == {Outcome.CREATED.value: 1, Outcome.REPLACED.value: 19}
    audit = race_tables.audit(race_service)
    (holder_sid,) = audit.sids
    assert audit.sid_by_address == {address: holder_sid}
    (holder,) = [binding for binding in bindings if binding.sid == holder_sid]
    assert audit.bindings_per_identity == {holder.identity: 1}
    assert store.get(race_tables.account_sid, race_service, holder_sid) == holder
    for identity in identities:
        listed = store.list_page(
            race_tables.account_sid, race_service, BindingFilters(identities=(identity,)), None, 50
        )
        assert listed.items == ([holder] if identity == holder.identity else [])
