"""Users (ours: Twilio removed the resource, yet its Binding JSON still links to it): an
identity of a Service, seen through its bindings, in the shape Notify's User resource had.

A User is not stored on its own: it is its identity record (`dal/bindings/items.py`), and it
exists while the identity has bindings. So its dates are its bindings' - `date_created` the
creation of its oldest binding, `date_updated` of its newest (a binding is never updated: a
replace is a new binding) - and its SID is derived from the Service and the identity, the same
every time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from notify_bindings.domain.bindings import Binding

USER_SID_PREFIX = "US"


@dataclass(frozen=True, slots=True)
class User:
    account_sid: str
    service_sid: str
    identity: str
    bindings: tuple[Binding, ...]  # at least one, in creation order

    @property
    def sid(self) -> str:
        return user_sid(self.service_sid, self.identity)

    @property
    def date_created(self) -> datetime:
        return self.bindings[0].date_created

    @property
    def date_updated(self) -> datetime:
        return self.bindings[-1].date_created


def user_sid(service_sid: str, identity: str) -> str:
    """`US` and 32 hex digits, derived from the Service and the identity: stable for as long
    as the identity is used, and naming the User in logs without naming the identity."""
    digest = hashlib.sha256(f"{service_sid}/{identity}".encode()).hexdigest()
    return USER_SID_PREFIX + digest[:32]


def user_path(service_sid: str, identity: str) -> str:
    """The path of the User's resource: the identity percent-encoded, as `links.user` has it.
    Dots are unreserved and stay, but not as a whole segment: clients resolve `.` and `..`
    away (RFC 3986, 5.2.4), so those two are written `%2E` and `%2E%2E`."""
    segment = quote(identity, safe="")
    if segment in (".", ".."):
        segment = "%2E" * len(segment)
    return f"/v1/Services/{service_sid}/Users/{segment}"
