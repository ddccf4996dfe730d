"""The binding functions under storms of DynamoDB faults, through the template's handlers.

Each storm runs a seeded random sequence of creates (new, replacing, moving to another
identity, identical to the live binding), fetches, lists (whole Service, by identity, by tag)
and deletes of a few addresses, while DynamoDB fails a share of all attempts. Every answer
must be the operation's own or a 429/503 with Retry-After (never a 500), must agree with
everything earlier answers made certain (tests/faults/oracle.py), and must come before the
function's timeout. After the storm the Service passes the invariant audit and holds exactly
what the client was told.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import Invoker
from tests.faults.conftest import ClockedFunctions, Inject
from tests.faults.injector import FaultInjector
from tests.faults.oracle import Bindings, State, refused
from tests.handlers.helpers import CREATE, DELETE, FETCH, LIST, bindings_path
from tests.invariants import assert_service_consistent

pytestmark = pytest.mark.slow  # a minute or more in all (pyproject.toml)
ADDRESSES = [f"device-{n}" for n in range(8)] + ["+15005550006", "+15005550007"]
IDENTITIES = ["alice", "bob", "carol"]
# One identity, more addresses than its limit of 20 bindings, mostly creates: it reaches it.
CROWDED = ([f"device-{n}" for n in range(24)], ["alice"], [10, 1, 1, 1])
TAGS = ["news", "vip", "beta"]
STEPS = 160


def random_form(
    rng: random.Random, address: str, identities: list[str], last: dict[str, Any] | None
) -> dict[str, Any]:
    if last is not None and rng.random() < 0.3:
        return last  # identical to what the client last created there: a retry
    form: dict[str, Any] = {
        "Identity": rng.choice(identities),
        "BindingType": "sms" if address.startswith("+") else rng.choice(["apn", "fcm"]),
        "Address": address,
    }
    tags = rng.sample(TAGS, rng.randrange(len(TAGS) + 1))
    if tags:
        form["Tag"] = tags
    return form


@dataclass
class Storm:
    """A seeded sequence of binding operations against one Service, each answer checked
    against what the client knows (`known`), and each acknowledged write read back at once
    with the faults paused (read-after-write)."""

    invoke: Invoker
    service_sid: str
    rng: random.Random
    faults: FaultInjector
    addresses: list[str] = field(default_factory=lambda: ADDRESSES)
    identities: list[str] = field(default_factory=lambda: IDENTITIES)
    weights: list[int] = field(default_factory=lambda: [5, 2, 2, 2])  # of each action
    known: Bindings = field(default_factory=Bindings)
    last_form: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            try:
                self.step()
            except AssertionError as error:
                raise AssertionError(f"{error}\nafter:\n{self.known.story()}") from None

    def step(self) -> None:
        path, known = bindings_path(self.service_sid), self.known
        action = self.rng.choices(["create", "fetch", "list", "delete"], self.weights)[0]
        sids = list(known.states)  # in the order the client met them: the seed decides
        if action == "create" or not sids:
            address = self.rng.choice(self.addresses)
            form = random_form(self.rng, address, self.identities, self.last_form.get(address))
            self.last_form[address] = form
            reply = self.invoke(CREATE, path, form=form)
            known.record(f"create {form}", reply)
            known.created(reply, form)
            if reply.status == 201:
                self.read_back(reply.json()["sid"], 200)
        elif action == "fetch":
            sid = self.rng.choice(sids)
            reply = self.invoke(FETCH, f"{path}/{sid}")
            known.record(f"fetch {sid} {known.states[sid]}", reply)
            known.fetched(sid, reply)
        elif action == "delete":
            sid = self.rng.choice(sids)
            reply = self.invoke(DELETE, f"{path}/{sid}")
            known.record(f"delete {sid} {known.states[sid]}", reply)
            known.deleted(sid, reply)
            if reply.status == 204:
                self.read_back(sid, 404)
        else:
            query, scope = list_query(self.rng, known, self.identities)
            reply = self.invoke(LIST, path, query={**query, "PageSize": 100})
            known.record(f"list {query}", reply)
            known.listed(reply, scope)

    def read_back(self, sid: str, status: int) -> None:
        with self.faults.paused():
            reply = self.invoke(FETCH, f"{bindings_path(self.service_sid)}/{sid}")
        assert reply.status == status, f"acknowledged, then read back: {reply.status} {sid}"


def list_query(
    rng: random.Random, known: Bindings, identities: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """A list filter, and the SIDs the client knows of that it selects (by identity only:
    the tags of a binding replaced in place are not tracked, so a tag filter's scope is
    none - its answer is still checked for gone and unseen SIDs)."""
    kind = rng.choice(["all", "identity", "tag"])
    if kind == "all":
        return {}, list(known.states)
    if kind == "identity":
        identity = rng.choice(identities)
        return {"Identity": identity}, [
            sid for sid, owner in known.identity_of.items() if owner == identity
        ]
    return {"Tag": rng.choice(TAGS)}, []


def check_after_storm(invoke: Invoker, service_sid: str, known: Bindings, dynamodb: Any) -> None:
    """Without faults: the audit passes, and the Service holds what the client was told."""
    audit = assert_service_consistent(dynamodb, "BindingsTable", "BindingIndexTable", service_sid)
    path = bindings_path(service_sid)
    for sid in known.sids(State.LIVE):
        assert invoke(FETCH, f"{path}/{sid}").status == 200, f"acknowledged {sid} is lost"
        assert audit.sid_by_address[known.address_of[sid]] == sid
    for sid in known.sids(State.GONE):
        assert invoke(FETCH, f"{path}/{sid}").status == 404, f"deleted {sid} is back"
        assert sid not in audit.sids
    for address, held in known.settled.items():
        assert audit.sid_by_address.get(address) == held, address


@pytest.mark.parametrize(
    ("seed", "crowd"),
    [(1, None), (2, None), (3, None), (5, CROWDED)],
    ids=["seed 1", "seed 2", "seed 3", "seed 5, one identity at its limit"],
)
def test_given_a_storm_of_dynamodb_faults_when_bindings_are_written_and_read_then_answers_are_honest_and_nothing_acknowledged_is_lost(  # noqa: E501
    seed,
    crowd,
    inject: Inject,
    timed_invoke: Invoker,
    clocked: ClockedFunctions,
    service_sid,
    dynamodb,
):
    faults = inject(seed=seed, rate=0.5)
    storm = Storm(timed_invoke, service_sid, random.Random(seed), faults)
    if crowd is not None:
        storm.addresses, storm.identities, storm.weights = crowd

    storm.run(STEPS)

    known = storm.known
    with faults.paused():
        check_after_storm(timed_invoke, service_sid, known, dynamodb)
    summary = (
        f"{faults.summary()}; {len(clocked.durations)} requests, {known.acknowledged} "
        f"acknowledged writes, {known.refusals} refusals, {known.limit_refusals} at the limit"
    )
    print(summary)
    assert faults.total_injected > STEPS // 2, summary
    assert known.acknowledged > STEPS // 4, summary
    assert known.refusals > 0, summary
    assert (known.limit_refusals > 0) == (crowd is not None), summary
    assert not clocked.overran(), f"invocations past their timeout: {clocked.overran()}"


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        ({"ThrottlingError"}, 429),  # the transaction's items refused for throughput
        ({"TransactionConflict"}, 503),
    ],
)
def test_given_every_transaction_cancelled_by_dynamodb_when_a_binding_is_created_then_the_layer_gives_up_with_429_or_503_as_the_reason_says(  # noqa: E501
    faults, status, inject: Inject, timed_invoke: Invoker, service_sid
):
    injector = inject(
        seed=4, rate=1.0, faults=frozenset(faults), operations=frozenset({"TransactWriteItems"})
    )

    reply = timed_invoke(
        CREATE,
        bindings_path(service_sid),
        form={"Identity": "alice", "BindingType": "apn", "Address": "device-1"},
    )

    assert reply.status == status, reply.body
    assert refused(reply)
    assert injector.total_injected == 6, injector.summary()  # the layer's own retries
