"""The Service form: every setting under its parameter name, only those given, and its limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notify_bindings.api.requests.service_lists import ListServicesQuery
from notify_bindings.api.requests.services import ServiceForm
from notify_bindings.domain.services import SETTINGS


def test_the_form_gives_every_setting_of_a_service_under_its_parameter_name():
    aliases = {name: field.alias for name, field in ServiceForm.model_fields.items()}

    assert aliases == SETTINGS
    assert "friendly_name" in SETTINGS
    assert "binding_ttl_days" in SETTINGS
    assert "sid" not in SETTINGS
    assert "date_updated" not in SETTINGS


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


@pytest.mark.parametrize("text", ["5_0", "+5", " 5", "1.0", "\u0665", "\uff13"])
def test_given_binding_ttl_days_not_in_plain_ascii_digits_then_refused(text):
    with pytest.raises(ValidationError) as caught:
        ServiceForm.model_validate({"BindingTtlDays": text})

    assert "valid integer" in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize("text", ["5_0", "+5", "1.0"])
def test_given_a_services_page_size_not_in_plain_ascii_digits_then_refused(text):
    with pytest.raises(ValidationError):
        ListServicesQuery.model_validate({"PageSize": text})
