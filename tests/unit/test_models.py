"""Input limits and formats of design.md, as the pydantic models enforce them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from notify_bindings.api.requests.bindings import CreateBindingForm, ListBindingsQuery
from notify_bindings.api.responses.bindings import BindingResource
from notify_bindings.domain.bindings import Binding, BindingFilters, BindingType

VALID = {"Identity": "alice", "BindingType": "apn", "Address": "token-1"}


def form(**changes: object) -> CreateBindingForm:
    return CreateBindingForm.model_validate({**VALID, **changes})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Identity", ""),
        ("Identity", "x" * 257),
        ("Identity", "tab\there"),
        ("Address", "x" * 513),
        ("Address", "tok en"),
        ("BindingType", "pigeon"),
        ("CredentialSid", "CR123"),
        ("NotificationProtocolVersion", "three point oh"),
        ("Tag", ["ok", ""]),
        ("Tag", ["t" * 65]),
        ("Tag", [f"t{n}" for n in range(21)]),
        ("Tag", ["bell\x07"]),
    ],
)
def test_given_a_value_outside_the_limits_when_validated_then_refused(field, value):
    with pytest.raises(ValidationError):
        form(**{field: value})


def test_given_limits_exactly_when_validated_then_accepted():
    accepted = form(
        Identity="i" * 256, Address="a" * 512, Tag=[f"t{n:02}" + "x" * 61 for n in range(20)]
    )

    assert len(accepted.identity) == 256
    assert len(accepted.tags) == 20


def test_given_duplicate_tags_when_validated_then_they_collapse_before_counting():
    accepted = form(Tag=["b", "a", "b", *(["a"] * 30)])

    assert accepted.tags == ("b", "a")


@pytest.mark.parametrize(
    ("kind", "address", "ok"),
    [
        ("sms", "+15551234567", True),
        ("sms", "+1", False),
        ("sms", "15551234567", False),
        ("sms", "+1234567890123456", False),
        ("facebook-messenger", "1234567890", True),
        ("facebook-messenger", "+447700900123", True),
        ("facebook-messenger", "page-user", False),
        ("fcm", "fcm:token/with+symbols", True),
        ("gcm", "has space", False),
    ],
)
def test_given_an_address_when_validated_then_its_format_follows_the_binding_type(
    kind, address, ok
):
    if ok:
        assert form(BindingType=kind, Address=address).address == address
    else:
        with pytest.raises(ValidationError):
            form(BindingType=kind, Address=address)


def test_given_a_page_size_over_1000_when_listed_then_clamped_not_refused():
    assert ListBindingsQuery.model_validate({"PageSize": "5000"}).page_size == 1000
    assert ListBindingsQuery.model_validate({}).page_size == 50
    with pytest.raises(ValidationError):
        ListBindingsQuery.model_validate({"PageSize": "0"})


@pytest.mark.parametrize("value", ["2024-1-2", "20240102", "2024-02-30", "yesterday", "1700000000"])
def test_given_a_date_not_in_yyyy_mm_dd_when_listed_then_refused(value):
    with pytest.raises(ValidationError):
        ListBindingsQuery.model_validate({"StartDate": value})


def test_given_more_than_five_tag_filters_when_listed_then_refused():
    with pytest.raises(ValidationError):
        ListBindingsQuery.model_validate({"Tag": ["a", "b", "c", "d", "e", "f"]})


def binding(**changes: object) -> Binding:
    fields: dict[str, object] = {
        "sid": "BS" + "1" * 32,
        "account_sid": "AC" + "2" * 32,
        "service_sid": "IS" + "3" * 32,
        "identity": "alice",
        "binding_type": BindingType.APN,
        "address": "token",
        "tags": ("b", "a"),
        "credential_sid": None,
        "notification_protocol_version": "3",
        "date_created": datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    }
    return Binding(**{**fields, **changes})  # type: ignore[arg-type]


def test_given_the_same_registration_with_tags_reordered_then_it_is_the_same():
    assert binding().registers_same_as(binding(sid="BS" + "9" * 32, tags=("a", "b")))
    assert not binding().registers_same_as(binding(identity="bob"))
    assert not binding().registers_same_as(binding(tags=("a",)))
    assert not binding().registers_same_as(binding(notification_protocol_version="4"))


def test_given_filters_when_matched_then_tags_are_all_of_identities_any_of_dates_inclusive():
    subject = binding(tags=("vip",))

    assert subject.matches(BindingFilters(tags=("vip", "apn", "all")))
    assert not subject.matches(BindingFilters(tags=("vip", "sms")))
    assert subject.matches(BindingFilters(identities=("bob", "alice")))
    assert not subject.matches(BindingFilters(identities=("bob",)))
    assert subject.matches(BindingFilters(start_date=date(2024, 1, 2), end_date=date(2024, 1, 2)))
    assert not subject.matches(BindingFilters(start_date=date(2024, 1, 3)))
    assert not subject.matches(BindingFilters(end_date=date(2024, 1, 1)))


def test_given_a_binding_when_represented_then_twilio_dates_and_encoded_user_link():
    resource = BindingResource.of(binding(identity="a b/c"), "https://api.example.com")

    assert resource.date_created == "2024-01-02T03:04:05Z"
    assert resource.date_updated == resource.date_created
    assert resource.links.user.endswith("/Users/a%20b%2Fc")
    assert (
        resource.url
        == f"https://api.example.com/v1/Services/{'IS' + '3' * 32}/Bindings/{'BS' + '1' * 32}"
    )
