"""The rules of a Service: the protocol version each push type takes."""

from __future__ import annotations

from notify_bindings.domain.bindings import BindingType
from tests.factories import sample_service


def test_given_service_defaults_then_each_push_type_takes_its_own():
    configured = sample_service(
        default_apn_notification_protocol_version="4",
        default_fcm_notification_protocol_version="5",
    )

    assert configured.default_protocol_version(BindingType.APN) == "4"
    assert configured.default_protocol_version(BindingType.FCM) == "5"
    assert configured.default_protocol_version(BindingType.GCM) is None
    assert configured.default_protocol_version(BindingType.SMS) is None
