"""One binding per address in a Service, at most 20 per identity: what the client sees."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

IDENTITY_LIMIT = 20


def assert_gone(bindings, sid: str) -> None:
    with pytest.raises(TwilioRestException) as caught:
        bindings(sid).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def listed_sids(bindings, **filters) -> list[str]:
    return [binding.sid for binding in bindings.list(**filters)]


def test_given_an_address_of_alice_when_bob_registers_it_then_a_new_binding_replaces_hers(
    bindings,
):
    old = bindings.create(identity="alice", binding_type="fcm", address="shared-phone-token")

    new = bindings.create(identity="bob", binding_type="fcm", address="shared-phone-token")

    assert new.sid != old.sid
    assert new.identity == "bob"
    assert_gone(bindings, old.sid)
    assert bindings(new.sid).fetch().identity == "bob"
    assert listed_sids(bindings, identity=["alice"]) == []
    assert listed_sids(bindings, identity=["bob"]) == [new.sid]
    assert listed_sids(bindings) == [new.sid]


def test_given_a_binding_when_its_address_is_registered_with_other_tags_then_a_new_sid_replaces_it(
    bindings,
):
    old = bindings.create(identity="carol", binding_type="apn", address="apn-token", tag=["free"])

    new = bindings.create(
        identity="carol", binding_type="apn", address="apn-token", tag=["premium"]
    )

    assert new.sid != old.sid
    assert new.tags == ["premium"]
    assert_gone(bindings, old.sid)
    assert listed_sids(bindings, identity=["carol"]) == [new.sid]
    assert listed_sids(bindings, tag=["free"]) == []
    assert listed_sids(bindings, tag=["premium"]) == [new.sid]


def test_given_a_binding_when_created_again_identically_then_the_same_binding_is_returned(
    bindings,
):
    first = bindings.create(
        identity="dave", binding_type="apn", address="apn-token", tag=["a", "b"]
    )

    again = bindings.create(
        identity="dave", binding_type="apn", address="apn-token", tag=["a", "b"]
    )

    assert again.sid == first.sid
    assert again.date_created == first.date_created
    assert bindings(first.sid).fetch().sid == first.sid
    assert listed_sids(bindings) == [first.sid]


def create_bindings_of(bindings, identity: str, count: int) -> list[str]:
    return [
        bindings.create(identity=identity, binding_type="apn", address=f"{identity}-token-{n}").sid
        for n in range(count)
    ]


def test_given_an_identity_with_20_bindings_when_a_21st_is_created_then_400_until_one_is_deleted(
    bindings,
):
    sids = create_bindings_of(bindings, "erin", IDENTITY_LIMIT)

    with pytest.raises(TwilioRestException) as caught:
        bindings.create(identity="erin", binding_type="apn", address="erin-token-extra")

    assert (caught.value.status, caught.value.code) == (400, 20001)
    assert str(IDENTITY_LIMIT) in caught.value.msg
    assert "Bindings" in caught.value.msg
    assert sorted(listed_sids(bindings, identity=["erin"])) == sorted(sids)

    assert bindings(sids[0]).delete() is True
    accepted = bindings.create(identity="erin", binding_type="apn", address="erin-token-extra")

    assert accepted.identity == "erin"
    listed = listed_sids(bindings, identity=["erin"])
    assert len(listed) == IDENTITY_LIMIT
    assert set(listed) == {*sids[1:], accepted.sid}


def test_given_an_identity_at_the_limit_when_one_of_its_addresses_gets_new_tags_then_it_is_replaced(
    bindings,
):
    sids = create_bindings_of(bindings, "heidi", IDENTITY_LIMIT)

    new = bindings.create(
        identity="heidi", binding_type="apn", address="heidi-token-0", tag=["moved"]
    )

    assert new.sid not in sids
    assert_gone(bindings, sids[0])
    assert set(listed_sids(bindings, identity=["heidi"])) == {*sids[1:], new.sid}


def test_given_an_address_of_a_full_identity_when_another_identity_takes_it_then_room_is_freed(
    bindings,
):
    sids = create_bindings_of(bindings, "ivan", IDENTITY_LIMIT)

    taken = bindings.create(identity="judy", binding_type="apn", address="ivan-token-0")
    freed = bindings.create(identity="ivan", binding_type="apn", address="ivan-token-new")

    assert taken.identity == "judy"
    assert set(listed_sids(bindings, identity=["ivan"])) == {*sids[1:], freed.sid}
