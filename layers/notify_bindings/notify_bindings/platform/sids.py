"""Twilio-shaped SIDs: a two-letter prefix and 32 lowercase hex digits.

Binding SIDs begin with their creation time in milliseconds (12 hex digits) followed by 80
random bits, like a UUIDv7. Sorting SIDs therefore sorts bindings by creation time, which is
what lets a list page resume after the last SID it returned and lets a date filter become a
key range instead of a filter pass.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, time, timedelta

ACCOUNT_SID_PATTERN = r"^AC[0-9a-f]{32}$"
SERVICE_SID_PATTERN = r"^IS[0-9a-fA-F]{32}$"
BINDING_SID_PATTERN = r"^BS[0-9a-fA-F]{32}$"
CREDENTIAL_SID_PATTERN = r"^CR[0-9a-fA-F]{32}$"

_SERVICE_SID = re.compile(SERVICE_SID_PATTERN)
_BINDING_SID = re.compile(r"^BS[0-9a-f]{32}$")

_TIME_DIGITS = 12
_RANDOM_BYTES = 10
_MAX_MILLIS = 16**_TIME_DIGITS - 1


def new_binding_sid(created: datetime) -> str:
    return time_ordered_sid("BS", created)


def time_ordered_sid(prefix: str, created: datetime) -> str:
    """A SID that sorts by `created` (to the millisecond) among SIDs with its prefix."""
    millis = int(created.timestamp() * 1000)
    return prefix + _time_prefix(millis)[2:] + secrets.token_hex(_RANDOM_BYTES)


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def is_service_sid(value: str) -> bool:
    return _SERVICE_SID.fullmatch(value) is not None


def is_binding_sid(value: str) -> bool:
    """True for SIDs this service can have issued (lowercase hex, as it writes them)."""
    return _BINDING_SID.fullmatch(value) is not None


def first_binding_sid_on(day: date) -> str:
    """The smallest binding SID that can have been created on `day` (GMT)."""
    return _time_prefix(_start_millis(day)) + "0" * (2 * _RANDOM_BYTES)


def last_binding_sid_on(day: date) -> str:
    """The largest binding SID that can have been created on `day` (GMT)."""
    end = _start_millis(day + timedelta(days=1)) if day < date.max else _MAX_MILLIS + 1
    return _time_prefix(end - 1) + "f" * (2 * _RANDOM_BYTES)


def _start_millis(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp() * 1000)


def _time_prefix(millis: int) -> str:
    return f"BS{min(max(millis, 0), _MAX_MILLIS):0{_TIME_DIGITS}x}"


def successor(sid: str) -> str:
    """The SID right after `sid` in sort order (which need not exist)."""
    return f"{sid[:2]}{int(sid[2:], 16) + 1:032x}"


def predecessor(sid: str) -> str:
    """The SID right before `sid`; its bare prefix sorts before every SID."""
    value = int(sid[2:], 16)
    return f"{sid[:2]}{value - 1:032x}" if value else sid[:2]
