"""Binding SIDs sort by creation time, which paging and date filters rely on."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from notify_bindings.platform.sids import (
    first_binding_sid_on,
    last_binding_sid_on,
    new_binding_sid,
    predecessor,
    successor,
)


def test_given_bindings_created_in_order_then_their_sids_sort_in_that_order():
    start = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    sids = [new_binding_sid(start + timedelta(milliseconds=n)) for n in range(50)]

    assert sids == sorted(sids)
    assert all(re.fullmatch(r"BS[0-9a-f]{32}", sid) for sid in sids)
    assert len(set(sids)) == 50


def test_given_a_day_then_every_sid_created_that_day_lies_in_its_range():
    day = date(2024, 2, 29)
    first = datetime(2024, 2, 29, tzinfo=UTC)
    inside = [new_binding_sid(first), new_binding_sid(first + timedelta(hours=24, milliseconds=-1))]
    outside = [
        new_binding_sid(first - timedelta(milliseconds=1)),
        new_binding_sid(first + timedelta(hours=24)),
    ]

    assert all(first_binding_sid_on(day) <= sid <= last_binding_sid_on(day) for sid in inside)
    assert not any(first_binding_sid_on(day) <= sid <= last_binding_sid_on(day) for sid in outside)


def test_given_extreme_dates_then_ranges_stay_valid_sids():
    assert first_binding_sid_on(date.min) == "BS" + "0" * 32
    assert re.fullmatch(r"BS[0-9a-f]{32}", last_binding_sid_on(date.max))


def test_given_a_sid_then_successor_and_predecessor_are_its_neighbours():
    sid = "BS" + "0" * 31 + "f"

    assert successor(sid) == "BS" + "0" * 30 + "10"
    assert predecessor(sid) == "BS" + "0" * 31 + "e"
    assert predecessor("BS" + "0" * 32) < "BS" + "0" * 32
