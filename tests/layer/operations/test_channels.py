"""The generic fields of a notification mapped onto APNs, FCM HTTP v1 and SMS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from notify_bindings.domain.notifications import Notification, Priority
from notify_bindings.operations.channels import (
    apns_request,
    fcm_message,
    legacy_to_v1,
    merge_patch,
    sms_message,
)

NOW = 1_800_000_000.0
TOKEN = "00fe" * 16


def notification(**fields: object) -> Notification:
    return Notification(
        sid="NT" + "0" * 32,
        account_sid="AC" + "0" * 32,
        service_sid="IS" + "0" * 32,
        date_created=datetime(2026, 12, 5, tzinfo=UTC),
        **fields,  # type: ignore[arg-type]
    )


GENERIC = notification(
    title="Hello",
    body="World",
    sound="chime.aiff",
    action="REPLY",
    data={"order": 42, "kind": "update", "tags": ["a", "b"]},
    ttl=3600,
)


def test_merge_patch_merges_objects_replaces_other_values_and_removes_nulls():
    target: dict[str, Any] = {"aps": {"alert": {"title": "T", "body": "B"}, "sound": "s"}, "k": [1]}

    merged = merge_patch(target, {"aps": {"alert": {"title": "X"}, "sound": None}, "k": [2]})

    assert merged == {"aps": {"alert": {"title": "X", "body": "B"}}, "k": [2]}
    assert target["aps"]["alert"]["title"] == "T"  # the original is left alone


def test_given_the_generic_fields_then_apns_gets_aps_the_data_at_the_root_and_the_headers():
    request = apns_request(GENERIC, TOKEN, NOW)

    assert request.payload == {
        "aps": {
            "alert": {"title": "Hello", "body": "World"},
            "sound": "chime.aiff",
            "category": "REPLY",
        },
        "order": 42,
        "kind": "update",
        "tags": ["a", "b"],
    }
    assert (request.device_token, request.push_type, request.priority) == (TOKEN, "alert", 10)
    assert request.expiration == int(NOW) + 3600
    assert request.topic is None  # the credential's


def test_given_an_apn_override_then_it_is_deep_merged_and_wins():
    override = {"aps": {"alert": {"title": "Override"}, "badge": 3}, "order": None, "x": 1}

    request = apns_request(
        notification(title="T", body="B", data={"order": 1}, apn=override), TOKEN, NOW
    )

    assert request.payload == {
        "aps": {"alert": {"title": "Override", "body": "B"}, "badge": 3},
        "x": 1,
    }


def test_given_low_priority_and_no_ttl_then_priority_5_and_expiration_0():
    request = apns_request(notification(body="B", priority=Priority.LOW, ttl=0), TOKEN, NOW)

    assert (request.priority, request.expiration, request.push_type) == (5, 0, "alert")


def test_given_nothing_to_show_then_a_background_push_at_priority_5():
    silent = notification(data={"sync": True}, apn={"aps": {"content-available": 1}})

    request = apns_request(silent, TOKEN, NOW)

    assert request.payload == {"aps": {"content-available": 1}, "sync": True}
    assert (request.push_type, request.priority) == ("background", 5)


def test_given_the_generic_fields_then_fcm_gets_a_data_only_message_with_strings():
    message = fcm_message(GENERIC, "reg-token", gcm=False)

    assert message == {
        "token": "reg-token",
        "data": {
            "twi_body": "World",
            "twi_title": "Hello",
            "twi_sound": "chime.aiff",
            "twi_action": "REPLY",
            "order": "42",
            "kind": "update",
            "tags": '["a","b"]',
        },
        "android": {"priority": "HIGH", "ttl": "3600s"},
    }
    assert "notification" not in message


def test_given_low_priority_then_fcm_android_priority_is_normal():
    message = fcm_message(notification(body="B", priority=Priority.LOW, ttl=0), "t", gcm=False)

    assert message["android"] == {"priority": "NORMAL", "ttl": "0s"}


def test_given_a_legacy_fcm_override_then_it_is_translated_to_v1_and_merged():
    override = {
        "notification": {
            "title": "Shown",
            "body": "Text",
            "sound": "default",
            "android_channel_id": "news",
            "click_action": "OPEN",
        },
        "data": {"extra": {"n": 1}},
        "priority": "normal",
        "time_to_live": 60,
        "collapse_key": "c",
        "content_available": True,
        "to": "ignored",
    }

    message = fcm_message(notification(body="B", fcm=override), "reg", gcm=False)

    assert message == {
        "token": "reg",
        "notification": {"title": "Shown", "body": "Text"},
        "data": {"twi_body": "B", "extra": '{"n":1}'},
        "android": {
            "priority": "NORMAL",
            "ttl": "60s",
            "collapse_key": "c",
            "notification": {"sound": "default", "channel_id": "news", "click_action": "OPEN"},
        },
        "apns": {"payload": {"aps": {"content-available": 1}}},
    }


def test_a_gcm_binding_takes_the_gcm_override_and_an_fcm_binding_the_fcm_one():
    both = notification(body="B", fcm={"data": {"o": "fcm"}}, gcm={"data": {"o": "gcm"}})

    assert fcm_message(both, "t", gcm=True)["data"]["o"] == "gcm"
    assert fcm_message(both, "t", gcm=False)["data"]["o"] == "fcm"


def test_legacy_translation_ignores_what_v1_has_no_place_for():
    assert legacy_to_v1({"dry_run": True, "registration_ids": ["x"], "priority": "urgent"}) == {}


def test_given_an_sms_override_then_its_body_wins_and_its_other_fields_are_carried():
    sms = {
        "body": "Text",
        "media_urls": ["https://e.example/a.png"],
        "status_callback": "https://e.example/cb",
        "max_price": 0.5,
    }

    message = sms_message(notification(body="Generic", sms=sms), "+15005550006", "MG" + "1" * 32)

    assert message.to == "+15005550006"
    assert message.messaging_service_sid == "MG" + "1" * 32
    assert message.body == "Text"
    assert message.media_urls == ("https://e.example/a.png",)
    assert (message.status_callback, message.max_price) == ("https://e.example/cb", "0.5")


def test_given_no_sms_override_then_the_generic_body_is_sent():
    message = sms_message(notification(body="Generic"), "+15005550006", "MG" + "1" * 32)

    assert (message.body, message.media_urls, message.status_callback) == ("Generic", (), None)


@pytest.mark.parametrize("value", [1, 1.5, True, None, {"a": [1]}, "text"])
def test_fcm_data_values_are_strings_whatever_was_given(value):
    message = fcm_message(notification(data={"k": value}), "t", gcm=False)

    assert isinstance(message["data"]["k"], str)
    assert message["data"]["k"] == (
        value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    )
