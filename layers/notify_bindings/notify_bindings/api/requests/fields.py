"""The field types every request is built of, and their limits, declared once.

Input limits (design.md, "limits" and "address formats") live here as pydantic constraints;
the forms and queries that use them are in the modules beside this one, one per resource
(loaded only by the functions that read them), and the adapter in `api/request.py` only turns
Twilio's repeated keys into lists.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints

from notify_bindings.domain.bindings import MAX_ADDRESS_BYTES, MAX_IDENTITY_BYTES, MAX_TAG_BYTES
from notify_bindings.platform.sids import CREDENTIAL_SID_PATTERN

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Invisible marks that change the order in which text displays ("Trojan Source").
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): what renders as nothing.
# Most are format (Cf) or unassigned (Cn) characters, refused by category below; this names
# them all, for the letters and marks among them (U+3164 HANGUL FILLER, the variation
# selectors) and so that the property does not move with the runtime's Unicode version.
_DEFAULT_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
# General categories refused, by what they are: none displays as itself. Private use (Co) has
# no meaning outside an agreement between two parties, and fonts draw it as anything (nothing,
# a logo, another letter); Cn is unassigned code points and the noncharacters (U+FFFF...).
_REFUSED_CATEGORIES = {
    "Cf": "format",
    "Cn": "unassigned or noncharacter",
    "Co": "private use",
    "Cs": "surrogate",
    "Zl": "line separator",
    "Zp": "paragraph separator",
    "Zs": "space",  # but the plain space, U+0020
}
# An integer in a form or a query: ASCII digits, a minus at most (so that -1 is refused for its
# range), nothing else Python's int() takes (`+5`, ` 5`, `5_0`, other scripts' digits), and no
# float (`1.0`).
_INTEGER = re.compile(r"-?[0-9]{1,19}")


def no_control_characters(value: str) -> str:
    if _CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters")
    return value


def canonical_identifier(value: str) -> str:
    """Identities, tags and addresses match exactly, so two spellings of one text (é as one
    code point, or as e and a combining accent) or text that displays otherwise than it reads
    would be different identifiers that look alike: refuse them rather than guess."""
    if _BIDI_CONTROLS.search(value):
        raise ValueError("must not contain bidirectional control characters")
    if not unicodedata.is_normalized("NFC", value):
        raise ValueError("must be in Unicode normalization form C (NFC)")
    if value and unicodedata.category(value[0]).startswith("M"):
        raise ValueError("must not begin with a combining character")
    return value


def visible_text(value: str) -> str:
    """Identities, tags and addresses are compared code point by code point: one that displays
    as nothing, or as a space other than the plain one, would make two identifiers that read
    the same (`alice` and `alice` + U+200B)."""
    if value.isascii():  # control characters are refused apart, the rest of ASCII displays
        return value
    for character in value:
        if _DEFAULT_IGNORABLE.match(character):
            raise ValueError(f"must not contain invisible characters (U+{ord(character):04X})")
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(character))
        if kind is not None and character != " ":
            raise ValueError(f"must not contain {kind} characters (U+{ord(character):04X})")
    return value


def max_bytes(limit: int) -> AfterValidator:
    """At most `limit` bytes of UTF-8: DynamoDB's limits on keys are in bytes."""

    def within(value: str) -> str:
        if len(value.encode("utf-8", errors="surrogatepass")) > limit:
            raise ValueError(f"must be at most {limit} bytes")
        return value

    within.__name__ = f"max_{limit}_bytes"  # named so, in the OpenAPI document's notes
    return AfterValidator(within)


def strict_integer(value: object) -> object:
    """An integer as a form or a query writes one, or as JSON does (not a bool, nor a float)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise ValueError("Input should be a valid integer, written in ASCII digits")


def page_needs_token(page: int, page_token: str | None) -> None:
    """A page other than the first is reached only through `next_page_url`, whose PageToken
    says where it starts: a number alone would answer the first page labelled otherwise."""
    if page != 0 and page_token is None:
        raise ValueError(
            "Parameter 'Page' is invalid: a page other than 0 needs its PageToken "
            "(follow next_page_url)"
        )


def _iso_date(value: object) -> object:
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date formatted as YYYY-MM-DD")
    return value


def clamp_page_size(value: int) -> int:
    # twilio-python sends list(limit=N) as PageSize=N even above the maximum: clamp, don't refuse.
    return min(value, MAX_PAGE_SIZE)


def unique(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Repeated values once each, in the order first given (duplicate tags collapse)."""
    return tuple(dict.fromkeys(values))


Identity = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256),
    AfterValidator(no_control_characters),
    AfterValidator(canonical_identifier),
    AfterValidator(visible_text),
    max_bytes(MAX_IDENTITY_BYTES),
]
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(no_control_characters),
    AfterValidator(canonical_identifier),
    AfterValidator(visible_text),
    max_bytes(MAX_TAG_BYTES),
]
Address = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512),
    AfterValidator(no_control_characters),
    AfterValidator(canonical_identifier),
    AfterValidator(visible_text),
    max_bytes(MAX_ADDRESS_BYTES),
]
# Not pydantic's int alone: it takes `+5`, ` 5`, `5_0`, `1.0` from a string. Put after a
# field's limits (`Annotated[int, Field(ge=0), ASCII_INTEGER]`), which then stay the int's own:
# its messages and its JSON schema's minimum and maximum.
ASCII_INTEGER = BeforeValidator(strict_integer)
Integer = Annotated[int, ASCII_INTEGER]
ProtocolVersion = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{1,16}$")]
CredentialSid = Annotated[str, StringConstraints(pattern=CREDENTIAL_SID_PATTERN)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]

# A Service's name, in its form and in the filter of its list.
FriendlyName = Annotated[
    str, StringConstraints(max_length=64), AfterValidator(no_control_characters)
]
