"""The stand-ins and clock of the provider tests."""

from tests.providers.conftest import apns, clock, fcm, twilio

__all__ = ["apns", "clock", "fcm", "twilio"]
