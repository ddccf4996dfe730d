"""The field types every request is built of: identifiers limited in the bytes DynamoDB counts,
free of invisible and look-alike code points, and integers written one way only."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from notify_bindings.api.requests.fields import (
    Address,
    Identity,
    Integer,
    Tag,
)
from notify_bindings.domain.bindings import MAX_ADDRESS_BYTES, MAX_IDENTITY_BYTES, MAX_TAG_BYTES


class Fields(BaseModel):
    identity: Identity | None = None
    tag: Tag | None = None
    address: Address | None = None
    number: Integer | None = None


def reason(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Fields.model_validate(values)
    return str(caught.value.errors()[0]["msg"])


# -- bytes --------------------------------------------------------------------------------------


def test_given_an_address_within_512_characters_but_over_1024_bytes_then_the_bytes_are_named():
    assert reason(address="中" * 342) == f"Value error, must be at most {MAX_ADDRESS_BYTES} bytes"
    assert reason(address="😀" * 257).endswith("must be at most 1024 bytes")


def test_given_text_at_the_byte_limits_then_accepted():
    accepted = Fields(identity="😀" * 256, tag="😀" * 64, address="😀" * 256)

    assert len(accepted.address.encode()) == MAX_ADDRESS_BYTES == 1024  # type: ignore[union-attr]
    assert len(accepted.identity.encode()) == MAX_IDENTITY_BYTES == 1024  # type: ignore[union-attr]
    assert len(accepted.tag.encode()) == MAX_TAG_BYTES == 256  # type: ignore[union-attr]


# -- invisible and look-alike code points --------------------------------------------------------

REFUSED = {
    "zero width space": "\u200b",
    "zero width joiner": "\u200d",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "function application": "\u2061",
    "hangul filler": "\u3164",
    "halfwidth hangul filler": "\uffa0",
    "combining grapheme joiner": "\u034f",
    "variation selector 16": "\ufe0f",
    "tag character": "\U000e0041",
    "language tag": "\U000e0001",
    "unassigned in the tag block": "\U000e0080",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "no-break space": "\u00a0",
    "ideographic space": "\u3000",
    "em space": "\u2003",
    "noncharacter FFFF": "\uffff",
    "noncharacter FDD0": "\ufdd0",
    "noncharacter 1FFFE": "\U0001fffe",
    "unassigned": "\u0378",
    "unassigned plane 5": "\U00050000",
    "private use": "\ue000",
    "private use plane 15": "\U000f0000",
    "mongolian vowel separator": "\u180e",
    "shorthand format control": "\U0001bca0",
    "musical symbol begin beam": "\U0001d173",
}


@pytest.mark.parametrize("field", ["identity", "tag", "address"])
@pytest.mark.parametrize("character", REFUSED.values(), ids=REFUSED.keys())
def test_given_an_invisible_or_look_alike_code_point_then_refused(field, character):
    message = reason(**{field: f"al{character}ice"})

    assert "must not contain" in message
    assert f"U+{ord(character):04X}" in message


@pytest.mark.parametrize("field", ["identity", "tag", "address"])
def test_given_a_lone_surrogate_then_refused_as_not_text(field):
    assert "valid string" in reason(**{field: "al\ud800ice"})


@pytest.mark.parametrize("field", ["identity", "tag", "address"])
@pytest.mark.parametrize("text", ["alice smith", "eve f/\u00fc", "\u6771 \u4eac"])
def test_given_the_plain_space_then_accepted_where_the_field_allows_it(field, text):
    assert getattr(Fields.model_validate({field: text}), field) == text


@pytest.mark.parametrize(
    "text", ["café", "東京", "नमस्ते", "שלום", "🐧", "\uff21\uff22\uff23", "\u01c5", "x\u00b2"]
)
def test_given_visible_text_of_any_script_then_accepted(text):
    assert Fields(identity=text, tag=text, address=text).identity == text


# -- integers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["5_0", "+5", " 5", "5 ", "1.0", "\u0665", "\uff15", "1e2", "0x10", "", "five", "\u200b5"],
)
def test_given_a_number_not_written_in_plain_ascii_digits_then_refused(text):
    assert "valid integer" in reason(number=text)


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("50", 50), ("007", 7), ("-1", -1)])
def test_given_plain_ascii_digits_then_the_number(text, number):
    assert Fields(number=text).number == number


def test_given_a_number_of_thousands_of_digits_then_refused_without_converting_it():
    assert "valid integer" in reason(number="9" * 5000)


def test_given_a_boolean_or_a_float_then_not_a_number():
    assert "valid integer" in reason(number=True)
    assert "valid integer" in reason(number=5.0)
