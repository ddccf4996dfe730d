"""The rules of a binding: when a create changes nothing a client can see, and what a list's
filters select."""

from __future__ import annotations

from datetime import date

from notify_bindings.domain.bindings import BindingFilters
from tests.factories import sample_binding


def test_given_the_same_registration_with_tags_reordered_then_it_is_the_same():
    assert sample_binding().registers_same_as(sample_binding(sid="BS" + "9" * 32, tags=("a", "b")))
    assert not sample_binding().registers_same_as(sample_binding(identity="bob"))
    assert not sample_binding().registers_same_as(sample_binding(tags=("a",)))
    assert not sample_binding().registers_same_as(sample_binding(notification_protocol_version="4"))


def test_given_filters_when_matched_then_tags_are_all_of_identities_any_of_dates_inclusive():
    subject = sample_binding(tags=("vip",))

    assert subject.matches(BindingFilters(tags=("vip", "apn", "all")))
    assert not subject.matches(BindingFilters(tags=("vip", "sms")))
    assert subject.matches(BindingFilters(identities=("bob", "alice")))
    assert not subject.matches(BindingFilters(identities=("bob",)))
    assert subject.matches(BindingFilters(start_date=date(2024, 1, 2), end_date=date(2024, 1, 2)))
    assert not subject.matches(BindingFilters(start_date=date(2024, 1, 3)))
    assert not subject.matches(BindingFilters(end_date=date(2024, 1, 1)))
