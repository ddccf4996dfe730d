"""Input limits and formats of design.md, as the binding requests' pydantic models enforce them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notify_bindings.api.requests.binding_lists import ListBindingsQuery
from notify_bindings.api.requests.bindings import CreateBindingForm

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


@pytest.mark.parametrize("tag", ["all", "apn", "gcm", "sms", "fcm", "facebook-messenger", "alexa"])
def test_given_an_explicit_tag_named_like_an_implicit_one_when_created_then_refused(tag):
    with pytest.raises(ValidationError) as caught:
        form(BindingType="apn", Tag=["news", tag])

    assert caught.value.errors()[0]["loc"][0] == "Tag"
    assert "reserved" in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize("tag", ["All", "SMS", "apns", "sms-opt-in", "everyone"])
def test_given_a_tag_only_resembling_a_reserved_name_when_created_then_accepted(tag):
    assert form(Tag=[tag]).tags == (tag,)


@pytest.mark.parametrize("tag", ["all", "sms", "facebook-messenger"])
def test_given_an_implicit_tag_as_a_filter_when_listed_then_accepted(tag):
    assert ListBindingsQuery.model_validate({"Tag": [tag]}).tags == (tag,)


@pytest.mark.parametrize("page", ["1", "3", "10000000"])
def test_given_a_page_other_than_0_without_its_token_when_listed_then_refused(page):
    with pytest.raises(ValidationError) as caught:
        ListBindingsQuery.model_validate({"Page": page})

    assert "Parameter 'Page'" in caught.value.errors()[0]["msg"]
    assert "PageToken" in caught.value.errors()[0]["msg"]


def test_given_page_0_without_a_token_or_a_page_with_its_token_when_listed_then_accepted():
    assert ListBindingsQuery.model_validate({"Page": "0"}).page == 0
    assert ListBindingsQuery.model_validate({"Page": "3", "PageToken": "t"}).page == 3


@pytest.mark.parametrize("text", ["5_0", "+5", " 5", "1.0", "\u0665"])
@pytest.mark.parametrize("name", ["PageSize", "Page"])
def test_given_a_number_not_in_plain_ascii_digits_when_listed_then_refused(name, text):
    with pytest.raises(ValidationError):
        ListBindingsQuery.model_validate({name: text, "PageToken": "t"})
