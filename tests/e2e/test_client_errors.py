"""Errors as the official client raises them: `TwilioRestException` with Twilio's codes."""

from __future__ import annotations

import secrets

import pytest
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException

VALID = {"identity": "alice", "binding_type": "apn", "address": "apn-token"}


def test_given_an_unknown_binding_sid_when_fetched_then_404_naming_the_resource(
    bindings, service_sid
):
    sid = "BS" + secrets.token_hex(16)

    with pytest.raises(TwilioRestException) as caught:
        bindings(sid).fetch()

    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert f"The requested resource /Services/{service_sid}/Bindings/{sid} was not found" in (
        caught.value.msg
    )


def test_given_an_unknown_binding_sid_when_deleted_then_404(bindings):
    with pytest.raises(TwilioRestException) as caught:
        bindings("BS" + secrets.token_hex(16)).delete()

    assert (caught.value.status, caught.value.code) == (404, 20404)


@pytest.mark.parametrize(
    "sid", ["BS123", "not-a-binding-sid", "BS" + "g" * 32, "IS" + "0" * 32, "BS" + "0" * 33]
)
def test_given_a_malformed_binding_sid_when_fetched_then_404(bindings, sid):
    bindings.create(**VALID)

    with pytest.raises(TwilioRestException) as caught:
        bindings(sid).fetch()

    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_given_a_malformed_service_sid_when_creating_or_listing_then_404(twilio_client):
    malformed = twilio_client.notify.v1.services("IS123").bindings

    with pytest.raises(TwilioRestException) as caught:
        malformed.create(**VALID)
    assert (caught.value.status, caught.value.code) == (404, 20404)

    with pytest.raises(TwilioException) as listing:
        malformed.list()
    assert listing.value.args[1].status_code == 404


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"binding_type": "carrier-pigeon"}, "BindingType"),
        ({"binding_type": "sms", "address": "5551234567"}, "E.164"),
        ({"binding_type": "sms", "address": "+1 555 123 4567"}, "E.164"),
        ({"binding_type": "apn", "address": "token with spaces"}, "whitespace"),
        ({"identity": values.unset}, "Identity"),
        ({"identity": ""}, "Identity"),
        ({"address": values.unset}, "Address"),
        ({"binding_type": values.unset}, "BindingType"),
        ({"credential_sid": "CR123"}, "CredentialSid"),
        ({"credential_sid": "XX" + "0" * 32}, "CredentialSid"),
        ({"tag": [f"tag-{n}" for n in range(21)]}, "Tag"),
    ],
    ids=[
        "unknown-binding-type",
        "sms-address-without-plus",
        "sms-address-with-spaces",
        "push-address-with-whitespace",
        "missing-identity",
        "empty-identity",
        "missing-address",
        "missing-binding-type",
        "short-credential-sid",
        "credential-sid-of-another-kind",
        "21-tags",
    ],
)
def test_given_an_invalid_create_when_sent_then_400_naming_the_problem_and_nothing_created(
    bindings, change, named
):
    with pytest.raises(TwilioRestException) as caught:
        bindings.create(**{**VALID, **change})

    assert (caught.value.status, caught.value.code) == (400, 20001)
    assert named in caught.value.msg
    assert caught.value.method == "POST"
    assert bindings.list() == []


def test_given_more_than_five_tag_filters_when_listed_then_the_page_is_refused(bindings):
    bindings.create(**VALID)

    with pytest.raises(TwilioException) as caught:
        bindings.list(tag=["a", "b", "c", "d", "e", "f"])

    assert caught.value.args[1].status_code == 400
