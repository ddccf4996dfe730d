"""Create and fetch bindings with the official twilio client, over HTTP to the local API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioRestException

SID = re.compile(r"BS[0-9a-f]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
CREDENTIAL_SID = "CR" + "0123456789abcdef" * 2


def assert_recent(moment: object) -> None:
    """A datetime the client parsed (it hands back the raw string when it cannot)."""
    assert isinstance(moment, datetime), f"the client could not parse {moment!r}"
    assert moment.tzinfo is not None
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


def test_given_an_apn_device_when_created_with_every_field_then_the_client_gets_the_binding(
    bindings, service_sid, local_api_url, credentials
):
    credential_sid = credentials["apn"]
    binding = bindings.create(
        identity="alice smith/1",
        binding_type="apn",
        address="apn-device-token-1",
        tag=["premium", "beta"],
        notification_protocol_version="4",
        credential_sid=credential_sid,
        endpoint="legacy-endpoint-26607274",
    )

    assert SID.fullmatch(binding.sid)
    assert ACCOUNT_SID.fullmatch(binding.account_sid)
    assert binding.service_sid == service_sid
    assert binding.identity == "alice smith/1"
    assert binding.binding_type == "apn"
    assert binding.address == "apn-device-token-1"
    assert binding.tags == ["premium", "beta"]
    assert binding.credential_sid == credential_sid
    assert binding.notification_protocol_version == "4"
    assert binding.endpoint is None  # deprecated: accepted, ignored
    assert_recent(binding.date_created)
    assert_recent(binding.date_updated)
    service_url = f"{local_api_url}/v1/Services/{service_sid}"
    assert binding.url == f"{service_url}/Bindings/{binding.sid}"
    assert binding.links == {"user": f"{service_url}/Users/alice%20smith%2F1"}


@pytest.mark.parametrize("binding_type", ["apn", "fcm", "gcm"])
def test_given_a_push_binding_without_protocol_version_when_created_then_3_and_credential_kept(
    bindings, binding_type, credentials
):
    binding = bindings.create(
        identity="bob",
        binding_type=binding_type,
        address=f"{binding_type}-registration-token",
        credential_sid=credentials[binding_type],
    )

    assert binding.binding_type == binding_type
    assert binding.notification_protocol_version == "3"
    assert binding.credential_sid == credentials[binding_type]
    assert binding.tags == []


def test_given_an_sms_binding_with_a_credential_when_created_then_credential_and_version_are_null(
    bindings,
):
    binding = bindings.create(
        identity="carol",
        binding_type="sms",
        address="+15551230001",
        credential_sid=CREDENTIAL_SID,
        notification_protocol_version="3",
    )

    assert binding.binding_type == "sms"
    assert binding.address == "+15551230001"
    assert binding.credential_sid is None
    assert binding.notification_protocol_version is None


def test_given_a_messenger_binding_when_created_then_credential_and_version_are_null(bindings):
    binding = bindings.create(
        identity="dave", binding_type="facebook-messenger", address="1234567890123456"
    )

    assert binding.binding_type == "facebook-messenger"
    assert binding.credential_sid is None
    assert binding.notification_protocol_version is None
    assert binding.endpoint is None


def test_given_repeated_tags_when_created_then_each_tag_is_kept_once_in_order(bindings):
    binding = bindings.create(
        identity="erin", binding_type="fcm", address="fcm-token", tag=["b", "a", "b", "a"]
    )

    assert binding.tags == ["b", "a"]


def test_given_a_created_binding_when_fetched_by_sid_then_every_field_is_the_same(
    bindings, credentials
):
    created = bindings.create(
        identity="frank",
        binding_type="gcm",
        address="gcm-token-1",
        tag=["news"],
        credential_sid=credentials["fcm"],
    )

    fetched = bindings(created.sid).fetch()

    fields = (
        "sid", "account_sid", "service_sid", "credential_sid", "date_created", "date_updated",
        "notification_protocol_version", "endpoint", "identity", "binding_type", "address",
        "tags", "url", "links",
    )  # fmt: skip
    assert {name: getattr(fetched, name) for name in fields} == {
        name: getattr(created, name) for name in fields
    }
    assert isinstance(fetched.date_created, datetime)


def test_given_a_binding_in_one_service_when_fetched_through_another_then_404(
    twilio_client, bindings, another_service_sid
):
    created = bindings.create(identity="grace", binding_type="sms", address="+15551230002")
    other_service = twilio_client.notify.v1.services(another_service_sid).bindings

    with pytest.raises(TwilioRestException) as caught:
        other_service(created.sid).fetch()

    assert (caught.value.status, caught.value.code) == (404, 20404)
