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

from notify_bindings.platform.sids import CREDENTIAL_SID_PATTERN

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Invisible marks that change the order in which text displays ("Trojan Source").
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


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
]
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(no_control_characters),
    AfterValidator(canonical_identifier),
]
Address = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512),
    AfterValidator(no_control_characters),
    AfterValidator(canonical_identifier),
]
ProtocolVersion = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{1,16}$")]
CredentialSid = Annotated[str, StringConstraints(pattern=CREDENTIAL_SID_PATTERN)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
