"""Listing with Identity, Tag, StartDate and EndDate through the official client."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest


@pytest.fixture
def team(bindings) -> SimpleNamespace:
    """Four bindings of four types, three identities and overlapping tags."""
    return SimpleNamespace(
        alice_apn=bindings.create(
            identity="alice", binding_type="apn", address="apn-1", tag=["premium", "beta"]
        ).sid,
        alice_sms=bindings.create(
            identity="alice", binding_type="sms", address="+15551230010", tag=["beta"]
        ).sid,
        bob_fcm=bindings.create(
            identity="bob", binding_type="fcm", address="fcm-1", tag=["premium"]
        ).sid,
        carol_gcm=bindings.create(identity="carol", binding_type="gcm", address="gcm-1").sid,
    )


def listed(bindings, **filters) -> set[str]:
    sids = [binding.sid for binding in bindings.list(**filters)]
    assert len(sids) == len(set(sids)), "a binding was listed twice"
    return set(sids)


def test_given_bindings_when_listed_without_filters_then_all_of_them(bindings, team):
    assert listed(bindings) == set(vars(team).values())


def test_given_tagged_bindings_when_listed_by_two_tags_then_only_those_with_both(bindings, team):
    assert listed(bindings, tag=["premium", "beta"]) == {team.alice_apn}
    assert listed(bindings, tag=["beta", "premium"]) == {team.alice_apn}


def test_given_tagged_bindings_when_listed_by_three_tags_then_only_those_with_all_three(
    bindings, team
):
    assert listed(bindings, tag=["premium", "beta", "apn"]) == {team.alice_apn}
    assert listed(bindings, tag=["premium", "beta", "sms"]) == set()
    assert listed(bindings, tag=["beta", "sms", "all"]) == {team.alice_sms}


def test_given_tagged_bindings_when_listed_by_one_tag_then_every_binding_with_it(bindings, team):
    assert listed(bindings, tag=["premium"]) == {team.alice_apn, team.bob_fcm}
    assert listed(bindings, tag=["beta"]) == {team.alice_apn, team.alice_sms}
    assert listed(bindings, tag=["nobody-has-this"]) == set()


def test_given_bindings_when_listed_by_implicit_tag_all_then_every_binding(bindings, team):
    assert listed(bindings, tag=["all"]) == set(vars(team).values())
    assert listed(bindings, tag=["all", "beta"]) == {team.alice_apn, team.alice_sms}


@pytest.mark.parametrize(
    ("binding_type", "expected"),
    [("apn", "alice_apn"), ("sms", "alice_sms"), ("fcm", "bob_fcm"), ("gcm", "carol_gcm")],
)
def test_given_bindings_of_each_type_when_listed_by_the_type_as_a_tag_then_only_that_type(
    bindings, team, binding_type, expected
):
    assert listed(bindings, tag=[binding_type]) == {getattr(team, expected)}


def test_given_bindings_when_listed_by_a_type_and_a_tag_then_both_must_match(bindings, team):
    assert listed(bindings, tag=["fcm", "premium"]) == {team.bob_fcm}
    assert listed(bindings, tag=["sms", "premium"]) == set()


def test_given_bindings_when_listed_by_one_identity_then_only_its_bindings(bindings, team):
    assert listed(bindings, identity=["alice"]) == {team.alice_apn, team.alice_sms}
    assert listed(bindings, identity=["carol"]) == {team.carol_gcm}
    assert listed(bindings, identity=["nobody"]) == set()


def test_given_bindings_when_listed_by_repeated_identities_then_those_of_any_of_them(
    bindings, team
):
    assert listed(bindings, identity=["alice", "bob"]) == {
        team.alice_apn,
        team.alice_sms,
        team.bob_fcm,
    }
    assert listed(bindings, identity=["nobody", "carol"]) == {team.carol_gcm}


def test_given_bindings_when_listed_by_identities_and_tags_then_both_filters_apply(bindings, team):
    assert listed(bindings, identity=["alice", "bob"], tag=["premium"]) == {
        team.alice_apn,
        team.bob_fcm,
    }
    assert listed(bindings, identity=["alice"], tag=["sms"]) == {team.alice_sms}
    assert listed(bindings, identity=["carol"], tag=["premium"]) == set()


@pytest.mark.parametrize("by_identity", [False, True], ids=["whole-service", "by-identity"])
def test_given_bindings_created_today_when_listed_by_dates_then_only_ranges_holding_today(
    bindings, team, by_identity
):
    """`today` is the GMT day the server says the bindings were created on."""
    today = bindings(team.alice_apn).fetch().date_created.date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    scope = {"identity": ["alice", "bob", "carol"]} if by_identity else {}
    everything = set(vars(team).values())

    assert listed(bindings, start_date=today, **scope) == everything
    assert listed(bindings, end_date=today, **scope) == everything
    assert listed(bindings, start_date=today, end_date=today, **scope) == everything
    assert listed(bindings, start_date=yesterday, end_date=tomorrow, **scope) == everything
    assert listed(bindings, end_date=yesterday, **scope) == set()
    assert listed(bindings, start_date=tomorrow, **scope) == set()


def test_given_bindings_created_today_when_listed_by_date_and_tag_then_both_filters_apply(
    bindings, team
):
    today = bindings(team.bob_fcm).fetch().date_created.date()

    assert listed(bindings, start_date=today, tag=["premium"]) == {team.alice_apn, team.bob_fcm}
    assert listed(bindings, end_date=today - timedelta(days=1), tag=["premium"]) == set()
