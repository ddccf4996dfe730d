"""The Service form and Twilio's Service JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from notify_bindings.api.requests.services import ServiceForm
from notify_bindings.api.responses.services import ServiceResource
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.services import SETTINGS, Service

SPEC = Path(__file__).resolve().parents[2] / "reference"
MOMENT = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_form_gives_every_setting_of_a_service_under_its_parameter_name():
    aliases = {name: field.alias for name, field in ServiceForm.model_fields.items()}

    assert aliases == SETTINGS
    assert "friendly_name" in SETTINGS
    assert "binding_ttl_days" in SETTINGS
    assert "sid" not in SETTINGS
    assert "date_updated" not in SETTINGS


def service(**settings: object) -> Service:
    return Service("IS" + "1" * 32, "AC" + "2" * 32, MOMENT, MOMENT, **settings)  # type: ignore[arg-type]


def test_given_no_settings_then_twilios_defaults():
    resource = ServiceResource.of(service(), "https://h").model_dump()

    assert resource["log_enabled"] is True
    assert resource["delivery_callback_enabled"] is False
    assert resource["friendly_name"] is None
    assert resource["default_apn_notification_protocol_version"] is None
    assert resource["date_created"] == "2024-01-02T03:04:05Z"
    assert resource["url"] == f"https://h/v1/Services/{'IS' + '1' * 32}"
    assert resource["links"]["bindings"] == resource["url"] + "/Bindings"


def test_given_a_form_then_only_the_settings_given_are_changes():
    form = ServiceForm.model_validate(
        {"FriendlyName": "app", "LogEnabled": "false", "ApnCredentialSid": "", "Other": "x"}
    )

    assert form.changes() == {
        "friendly_name": "app",
        "log_enabled": False,
        "apn_credential_sid": None,
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FriendlyName", "x" * 65),
        ("FriendlyName", "line\nbreak"),
        ("ApnCredentialSid", "CR123"),
        ("MessagingServiceSid", "MG" + "z" * 32),
        ("LogEnabled", "perhaps"),
        ("DeliveryCallbackUrl", "ftp://example.com/x"),
        ("DefaultFcmNotificationProtocolVersion", "3 3"),
    ],
)
def test_given_an_invalid_setting_then_refused(name, value):
    with pytest.raises(ValidationError):
        ServiceForm.model_validate({name: value})


def test_given_service_defaults_then_each_push_type_takes_its_own():
    configured = service(
        default_apn_notification_protocol_version="4",
        default_fcm_notification_protocol_version="5",
    )

    assert configured.default_protocol_version(BindingType.APN) == "4"
    assert configured.default_protocol_version(BindingType.FCM) == "5"
    assert configured.default_protocol_version(BindingType.GCM) is None
    assert configured.default_protocol_version(BindingType.SMS) is None


# The Service JSON's fields that are ours, not Twilio's.
OUR_SERVICE_FIELDS = {"identity_binding_limit_policy", "binding_ttl_days"}


def test_given_twilios_spec_then_the_json_has_exactly_its_service_fields_and_ours():
    spec = json.loads((SPEC / "twilio_notify_v1.json").read_text())
    fields = set(spec["components"]["schemas"]["notify.v1.service"]["properties"])

    assert fields.isdisjoint(OUR_SERVICE_FIELDS)
    assert set(ServiceResource.model_fields) == fields | OUR_SERVICE_FIELDS
