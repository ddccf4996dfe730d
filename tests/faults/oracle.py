"""What the answers of a fault storm let a client know for certain, and the checks of every
answer against it.

An answer of 429 or 503 says nothing about whether the write happened. So a binding is
*live* (an acknowledged create, or a read that found it), *gone* (an acknowledged delete,
replaced by an acknowledged create of its address, or a read that did not find it), or
*unknown*. Whatever is certain must stay so: a live binding is found by every read and
every list, a gone one by none, until an operation on its address makes it unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from notify_bindings.domain.bindings import MAX_BINDINGS_PER_IDENTITY
from tests.conftest import Reply

UNAVAILABLE = {429: 20429, 503: 20503}


class State(Enum):
    LIVE = "live"
    GONE = "gone"
    UNKNOWN = "unknown"


def refused(reply: Reply) -> bool:
    """True for a well-formed 429/20429 or 503/20503 with Retry-After; raises for a 500 or
    anything else malformed."""
    assert reply.status != 500, f"a 500: {reply.body}"
    if reply.status not in UNAVAILABLE:
        return False
    assert reply.json()["code"] == UNAVAILABLE[reply.status], reply.body
    assert int(reply.headers["Retry-After"]) >= 1, reply.headers
    return True


@dataclass
class Bindings:
    """The client's certain knowledge of one Service's bindings, by SID and by address."""

    states: dict[str, State] = field(default_factory=dict)  # SID -> state
    address_of: dict[str, str] = field(default_factory=dict)  # SID -> address
    identity_of: dict[str, str] = field(default_factory=dict)  # SID -> identity
    # An address is settled when its binding (or its absence) is certain.
    settled: dict[str, str | None] = field(default_factory=dict)  # address -> SID or None
    touched: set[str] = field(default_factory=set)  # every address a create was sent for
    acknowledged: int = 0
    refusals: int = 0  # 429 and 503
    limit_refusals: int = 0  # 400: the identity has the maximum of bindings
    history: list[str] = field(default_factory=list)  # what happened, for failure messages

    def record(self, what: str, reply: Reply) -> None:
        self.history.append(f"{what} -> {reply.status} {reply.body[:60]}")

    def story(self) -> str:
        return "\n".join(self.history[-12:])

    def sids(self, state: State) -> list[str]:
        return sorted(sid for sid, known in self.states.items() if known is state)

    def unsettle(self, address: str) -> None:
        """An operation on `address` may or may not have happened."""
        for sid, known in self.states.items():
            if self.address_of[sid] == address and known is State.LIVE:
                self.states[sid] = State.UNKNOWN
        self.settled.pop(address, None)

    def created(self, reply: Reply, form: dict[str, Any]) -> None:
        address = form["Address"]
        self.touched.add(address)
        if refused(reply):
            self.refusals += 1
            self.unsettle(address)
            return
        if reply.status == 400 and "maximum" in reply.json()["message"]:
            self._refused_for_the_limit(form)
            return
        assert reply.status == 201, reply.body
        body = reply.json()
        assert (body["address"], body["identity"]) == (address, form["Identity"]), body
        assert sorted(body["tags"]) == sorted(set(form.get("Tag", []))), body
        self.acknowledged += 1
        self._holds(address, body["sid"], form["Identity"])

    def _refused_for_the_limit(self, form: dict[str, Any]) -> None:
        """The identity's limit refused the create (and nothing changed): only right if the
        identity may hold the maximum already, at addresses other than this one."""
        identity, here = form["Identity"], form["Address"]
        possible = [
            address
            for address in self.touched - {here}
            if address not in self.settled  # unknown: it may hold one of the identity's
            or ((sid := self.settled[address]) is not None and self.identity_of[sid] == identity)
        ]
        assert len(possible) >= MAX_BINDINGS_PER_IDENTITY, (
            f"{identity} refused for its limit with at most {len(possible)} bindings"
        )
        self.limit_refusals += 1

    def _holds(self, address: str, sid: str, identity: str) -> None:
        """`address` is held by `sid` now: any other binding of it is gone."""
        assert self.states.get(sid) is not State.GONE, f"{sid} was gone and is back"
        for other in self.states:
            if self.address_of[other] == address and other != sid:
                self.states[other] = State.GONE
        self.states[sid] = State.LIVE
        self.address_of[sid] = address
        self.identity_of[sid] = identity
        self.settled[address] = sid

    def fetched(self, sid: str, reply: Reply) -> None:
        if refused(reply):
            self.refusals += 1
            return
        known = self.states[sid]
        if reply.status == 200:
            assert known is not State.GONE, f"fetch found {sid}, which is gone"
            body = reply.json()
            assert body["sid"] == sid
            self._holds(body["address"], sid, body["identity"])
        else:
            assert reply.status == 404, reply.body
            assert known is not State.LIVE, f"fetch did not find {sid}, which is live"
            self._gone(sid)

    def deleted(self, sid: str, reply: Reply) -> None:
        if refused(reply):
            self.refusals += 1
            self.unsettle(self.address_of[sid])
            return
        known = self.states[sid]
        if reply.status == 204:
            assert known is not State.GONE, f"delete found {sid}, which was gone"
            self.acknowledged += 1
        else:
            assert reply.status == 404, reply.body
            assert known is not State.LIVE, f"delete did not find {sid}, which is live"
        self._gone(sid)

    def _gone(self, sid: str) -> None:
        self.states[sid] = State.GONE
        if self.settled.get(self.address_of[sid]) == sid:
            self.settled[self.address_of[sid]] = None

    def listed(self, reply: Reply, in_scope: Iterable[str]) -> None:
        """A list answer: every live SID of `in_scope` in it, no gone SID, and any SID the
        client has not seen only at an address that is not settled."""
        if refused(reply):
            self.refusals += 1
            return
        assert reply.status == 200, reply.body
        found = {binding["sid"]: binding for binding in reply.json()["bindings"]}
        missing = [sid for sid in in_scope if self.states[sid] is State.LIVE and sid not in found]
        assert not missing, f"live bindings missing from a list: {missing}"
        for sid, binding in found.items():
            known = self.states.get(sid)
            assert known is not State.GONE, f"a list returned {sid}, which is gone"
            if known is None:
                address = binding["address"]
                assert address not in self.settled, f"unseen {sid} at settled {address!r}"
