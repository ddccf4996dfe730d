"""Twilio's Service JSON: Twilio's fields and defaults, and ours."""

from __future__ import annotations

import json
from pathlib import Path

from notify_bindings.api.responses.services import ServiceResource
from tests.factories import sample_service

SPEC = Path(__file__).resolve().parents[4] / "reference"


def test_given_no_settings_then_twilios_defaults():
    resource = ServiceResource.of(sample_service(), "https://h").model_dump()

    assert resource["log_enabled"] is True
    assert resource["delivery_callback_enabled"] is False
    assert resource["friendly_name"] is None
    assert resource["default_apn_notification_protocol_version"] is None
    assert resource["date_created"] == "2024-01-02T03:04:05Z"
    assert resource["url"] == f"https://h/v1/Services/{'IS' + '1' * 32}"
    assert resource["links"]["bindings"] == resource["url"] + "/Bindings"


# The Service JSON's fields that are ours, not Twilio's.
OUR_SERVICE_FIELDS = {"identity_binding_limit_policy", "binding_ttl_days", "sms_credential_sid"}


def test_given_twilios_spec_then_the_json_has_exactly_its_service_fields_and_ours():
    spec = json.loads((SPEC / "twilio_notify_v1.json").read_text())
    fields = set(spec["components"]["schemas"]["notify.v1.service"]["properties"])

    assert fields.isdisjoint(OUR_SERVICE_FIELDS)
    assert set(ServiceResource.model_fields) == fields | OUR_SERVICE_FIELDS
