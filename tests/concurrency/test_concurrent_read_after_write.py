"""Read-after-write while other threads write (design.md invariant 3): a SID that create
returned is at once fetchable and listed (unfiltered, by identity, by tag); a deleted SID is at
once gone from all of them."""

from __future__ import annotations

from functools import partial

from notify_bindings.api.requests.fields import MAX_PAGE_SIZE
from notify_bindings.dal.bindings.store import BindingStore
from notify_bindings.domain.bindings import BindingFilters, BindingType, Outcome
from tests.concurrency.conftest import RaceTables
from tests.concurrency.racing import WORKERS, run_lanes
from tests.factories import new_binding, put_binding

CREATES_PER_LANE = 2


def sids_listed(
    store: BindingStore, account_sid: str, service_sid: str, filters: BindingFilters
) -> set[str]:
    page = store.list_page(account_sid, service_sid, filters, None, MAX_PAGE_SIZE)
    assert not page.more_after
    return {binding.sid for binding in page.items}


def write_then_read(
    store: BindingStore, account_sid: str, service_sid: str, lane: int
) -> list[str]:
    """Create, read back, delete, read back: what this lane found wrong."""
    identity, tag = f"reader-{lane:02}", f"lane-{lane:02}"
    views = {
        "unfiltered": BindingFilters(),
        "by identity": BindingFilters(identities=(identity,)),
        "by tag": BindingFilters(tags=(tag,)),
        "by tag and type": BindingFilters(tags=(tag, BindingType.FCM.value)),
    }
    problems: list[str] = []
    created = []
    for number in range(CREATES_PER_LANE):
        address = f"device-{lane:02}-{number}"
        binding = new_binding(
            service_sid,
            identity,
            address,
            account_sid=account_sid,
            binding_type=BindingType.FCM,
            tags=(tag,),
        )
        result = put_binding(store, binding)
        if result.outcome is not Outcome.CREATED or result.binding != binding:
            problems.append(f"create of {binding.sid}: {result}")
        if store.get(account_sid, service_sid, binding.sid) != binding:
            problems.append(f"{binding.sid} not fetchable right after create")
        for view, filters in views.items():
            if binding.sid not in sids_listed(store, account_sid, service_sid, filters):
                problems.append(f"{binding.sid} not listed {view} right after create")
        created.append(binding)

    gone = created[0]
    if store.delete(account_sid, service_sid, gone.sid) != gone:
        problems.append(f"delete of {gone.sid} did not find it")
    if store.get(account_sid, service_sid, gone.sid) is not None:
        problems.append(f"{gone.sid} still fetchable right after delete")
    for view, filters in views.items():
        listed = sids_listed(store, account_sid, service_sid, filters)
        if gone.sid in listed:
            problems.append(f"{gone.sid} still listed {view} right after delete")
        if any(kept.sid not in listed for kept in created[1:]):
            problems.append(f"a binding of {identity} missing {view} after the delete")
    return problems


def test_given_threads_writing_at_once_when_each_reads_its_own_writes_then_it_sees_them(
    race_tables: RaceTables, race_service: str
) -> None:
    store = race_tables.store()
    lanes = range(WORKERS // 2)

    account = race_tables.account_sid

    problems = run_lanes(
        [partial(write_then_read, store, account, race_service, lane) for lane in lanes]
    )

    assert [problem for found in problems for problem in found] == []
    audit = race_tables.audit(race_service)
    assert audit.bindings_per_identity == {
        f"reader-{lane:02}": CREATES_PER_LANE - 1 for lane in lanes
    }
