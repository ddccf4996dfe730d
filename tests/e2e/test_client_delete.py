"""Deleting bindings through the official client."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException


def test_given_a_binding_when_deleted_then_true_and_it_is_gone_everywhere(bindings):
    doomed = bindings.create(identity="alice", binding_type="apn", address="apn-1", tag=["x"])
    kept = bindings.create(identity="alice", binding_type="sms", address="+15551230020")

    assert bindings(doomed.sid).delete() is True

    with pytest.raises(TwilioRestException) as caught:
        bindings(doomed.sid).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert [binding.sid for binding in bindings.list()] == [kept.sid]
    assert [binding.sid for binding in bindings.list(identity=["alice"])] == [kept.sid]
    assert [binding.sid for binding in bindings.list(tag=["x"])] == []
    assert [binding.sid for binding in bindings.list(tag=["apn"])] == []


def test_given_a_deleted_binding_when_deleted_again_then_404(bindings):
    sid = bindings.create(identity="bob", binding_type="fcm", address="fcm-1").sid
    assert bindings(sid).delete() is True

    with pytest.raises(TwilioRestException) as caught:
        bindings(sid).delete()

    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert caught.value.method == "DELETE"


def test_given_a_deleted_binding_when_its_address_is_registered_again_then_a_new_binding(
    bindings,
):
    old = bindings.create(identity="carol", binding_type="gcm", address="gcm-1")
    bindings(old.sid).delete()

    new = bindings.create(identity="carol", binding_type="gcm", address="gcm-1")

    assert new.sid != old.sid
    assert bindings(new.sid).fetch().address == "gcm-1"
    assert [binding.sid for binding in bindings.list(identity=["carol"])] == [new.sid]
