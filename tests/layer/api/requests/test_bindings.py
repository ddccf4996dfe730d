"""Input limits and formats of design.md, as the binding requests' pydantic models enforce them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notify_bindings.api.requests.bindings import CreateBindingForm, ListBindingsQuery

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
