"""What bench/end_to_end.py calls a miss: a binding missing, one sent twice without a lost
acceptance to explain it, a request to no binding, counts that do not add up - and what it lets
pass under faults (a duplicate for each acceptance lost, a binding reported failed)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.end_to_end import Run, addresses

BINDINGS = {"BS1": "a1", "BS2": "f2", "BS3": "+15550000003"}


def run(
    accepted: dict[str, Counter[str]],
    *,
    faults: float = 0.0,
    lost: dict[str, Counter[str]] | None = None,
    sent: int = 3,
    failed: int = 0,
    states: list[dict[str, Any]] | None = None,
) -> Run:
    return Run(
        recipients=3,
        faults=faults,
        seconds=1.0,
        deliveries={
            "total": 3,
            "sent": sent,
            "failed": failed,
            "pending": 0,
            "dead_bindings_removed": 0,
        },
        accepted=accepted,
        lost=lost or {},
        injected={},
        requests=sum(sum(channel.values()) for channel in accepted.values()),
        states=states or [],
        bindings=dict(BINDINGS),
    )


def exactly_once() -> dict[str, Counter[str]]:
    return {"apn": Counter(a1=1), "fcm": Counter(f2=1), "sms": Counter({"+15550000003": 1})}


def test_given_each_binding_sent_once_and_exact_counts_then_nothing_is_wrong():
    assert run(exactly_once()).check() == []


def test_given_a_binding_sent_twice_without_a_lost_acceptance_then_it_is_a_miss():
    accepted = exactly_once()
    accepted["fcm"]["f2"] = 2

    problems = run(accepted).check()

    assert any("more requests than lost acceptances explain" in p for p in problems), problems


def test_given_a_binding_never_sent_or_an_address_of_no_binding_then_each_is_a_miss():
    accepted = exactly_once()
    del accepted["apn"]["a1"]
    accepted["apn"]["stranger"] = 1

    problems = run(accepted).check()

    assert any("1 bindings received nothing" in p for p in problems), problems
    assert any("addresses of no binding" in p for p in problems), problems


def test_given_counts_that_do_not_add_up_then_it_is_a_miss():
    assert run(exactly_once(), sent=2, failed=0).check()


def test_given_faults_then_a_duplicate_per_lost_acceptance_and_a_binding_reported_failed_pass():
    accepted = exactly_once()
    accepted["fcm"]["f2"] = 2
    del accepted["apn"]["a1"]  # every attempt refused: reported failed, never accepted
    states = [
        {"binding_sid": "BS1", "status": "FAILED"},
        {"binding_sid": "BS2", "status": "SENT"},
        {"binding_sid": "BS3", "status": "SENT"},
    ]

    checked = run(
        accepted,
        faults=0.1,
        lost={"fcm": Counter(f2=1)},
        sent=2,
        failed=1,
        states=states,
    ).check()

    assert checked == []


def test_given_a_population_then_addresses_are_distinct_and_no_stand_in_test_card():
    made = addresses(5000, seed=1)

    assert len({address for _, address in made}) == 5000
    assert {kind for kind, _ in made} == {"apn", "fcm", "sms"}
    cards = ("dead", "bad", "busy", "other", "mismatch", "+1500555")
    assert not [address for _, address in made if address.startswith(cards)]
