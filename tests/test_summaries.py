"""The sections of pytest's closing summary (tests/summaries.py) add up the figures of every xdist
worker: each worker's are plain data that execnet can carry, and the merged figures print as
one process that ran every test would have printed them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import execnet
import pytest

from tests.conformance.tally import Tally
from tests.faults.injector import FaultInjector, VirtualClock
from tests.faults.summary import FaultStorms
from tests.summaries import Lines, merged


def storm(name: str, seed: int, injected: dict[str, int], attempts: int) -> tuple[str, Any]:
    injector = FaultInjector(seed, 0.5, VirtualClock())
    injector.injected.update(injected)
    injector.attempts.update({"PutItem": attempts})
    return name, injector


def over_the_wire(figures: object) -> object:
    """What the controller receives of a worker's figures."""
    return execnet.loads(execnet.dumps(figures))


def test_given_figures_of_two_workers_when_merged_then_numbers_add_lists_join_and_dicts_merge():
    first = {"n": 2, "items": ["a"], "by": {"x": 1}, "name": "same"}
    second = {"n": 3, "items": ["b", "c"], "by": {"x": 4, "y": 5}, "name": "same"}

    assert merged(first, second) == {
        "n": 5,
        "items": ["a", "b", "c"],
        "by": {"x": 5, "y": 5},
        "name": "same",
    }


@pytest.mark.parametrize(("first", "second"), [("a", "b"), (1, [1]), (True, 1), ({"n": 1}, 1)])
def test_given_figures_that_do_not_add_up_when_merged_then_it_says_so(first, second):
    with pytest.raises(TypeError, match="do not add up"):
        merged(first, second)


def test_given_fault_storms_on_two_workers_then_the_summary_is_that_of_one_process():
    one, two, both = FaultStorms(), FaultStorms(), FaultStorms()
    a = storm("test_a", 1, {"ThrottlingException": 3}, 10)
    b = storm("test_b", 2, {"InternalServerError": 2, "Unprocessed": 1}, 7)
    one.storms.append(a)
    one.invocations = 4
    two.storms.append(b)
    two.invocations = 6
    both.storms.extend([a, b])
    both.invocations = 10

    lines = both.render([over_the_wire(one.figures()), over_the_wire(two.figures())])

    assert lines == both.render([both.figures()])
    assert lines[0] == "6 faults injected into 17 DynamoDB attempts of 10 invocations, in 2 storms"
    assert lines[1:] == [f"  {name}: {injector.summary()}" for name, injector in (a, b)]


def test_given_a_worker_that_ran_no_fault_test_then_it_adds_nothing():
    ran, idle = FaultStorms(), FaultStorms()
    ran.storms.append(storm("test_a", 1, {"ThrottlingException": 3}, 10))
    ran.invocations = 4

    assert idle.figures() == {}
    assert idle.render([idle.figures()]) == []
    assert ran.render([ran.figures(), idle.figures()]) == ran.render([ran.figures()])


def test_given_schemathesis_tallies_on_two_workers_then_the_counts_add_up():
    one, two, both = Tally(), Tally(), Tally()
    for tally, document, operation, status in [
        (one, "ours", "GET /v1/Services", 200),
        (one, "ours", "GET /v1/Services", 404),
        (two, "ours", "GET /v1/Services", 200),
        (two, "ours", "POST /v1/Services", 201),
        (two, "theirs", "GET /v1/Services", 200),
    ]:
        tally.record(document, operation, status)
        both.record(document, operation, status)
    one.set_aside["ours"]["a deliberate difference"] += 1
    both.set_aside["ours"]["a deliberate difference"] += 1

    lines = both.render([over_the_wire(one.figures()), over_the_wire(two.figures())])

    assert lines == both.render([both.figures()])
    assert lines == [
        "ours: 4 generated cases",
        "  GET /v1/Services: {200: 2, 404: 1}",
        "  POST /v1/Services: {201: 1}",
        "  set aside 1x, deliberate: a deliberate difference",
        "theirs: 1 generated cases",
        "  GET /v1/Services: {200: 1}",
    ]
    assert isinstance(both.statuses["ours"]["GET /v1/Services"], Counter)  # the tests' own view


def test_given_lines_added_on_two_workers_then_all_are_printed():
    one, two = Lines("model-based test"), Lines("model-based test")
    one.add("model-ci: 320 steps")
    two.add("model-thorough: 2000 steps")

    assert one.render([over_the_wire(one.figures()), over_the_wire(two.figures())]) == [
        "model-ci: 320 steps",
        "model-thorough: 2000 steps",
    ]
