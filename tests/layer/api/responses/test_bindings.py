"""Twilio's JSON for a binding."""

from __future__ import annotations

from notify_bindings.api.responses.bindings import BindingResource
from tests.factories import sample_binding


def test_given_a_binding_when_represented_then_twilio_dates_and_encoded_user_link():
    resource = BindingResource.of(sample_binding(identity="a b/c"), "https://api.example.com")

    assert resource.date_created == "2024-01-02T03:04:05Z"
    assert resource.date_updated == resource.date_created
    assert resource.links.user.endswith("/Users/a%20b%2Fc")
    assert (
        resource.url
        == f"https://api.example.com/v1/Services/{'IS' + '3' * 32}/Bindings/{'BS' + '1' * 32}"
    )
