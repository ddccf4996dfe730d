"""The provider stand-ins and clock, for the sending tests."""

from tests.providers.conftest import (
    apns,
    clock,
    fcm,
    service_account,
    token_key,
    twilio,
    twilio_account,
)

__all__ = ["apns", "clock", "fcm", "service_account", "token_key", "twilio", "twilio_account"]
