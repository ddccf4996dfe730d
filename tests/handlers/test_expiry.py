"""Exact expiry (a Service's BindingTtlDays), through the template's functions on a clock the
test controls: from the moment a binding expires it is gone to every read and every write,
whatever DynamoDB's TTL and the clean-up have removed of it so far - and no such state blocks a
write or makes it spend its retries.

Each state of an expired binding is built in the tables directly:
- untouched: expired, nothing of it removed yet;
- ttl: its address item deleted by DynamoDB's TTL, the rest still there;
- partly: its address item, SID item and one tag item gone, its other tag items, copy and
  count still there (what a clean-up that stopped halfway would leave);
- forgotten: its index items and copy gone (the clean-up, or a create at its identity's limit,
  took them), its address item still there because TTL has not come yet;
- gone: nothing of it left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from local_api.round_trips import counting
from notify_bindings import dependencies
from notify_bindings.dal.bindings.items import binding_from
from notify_bindings.dal.bindings.reads import ReadBudgets
from notify_bindings.dal.bindings.store import Limits
from notify_bindings.domain.bindings import Binding
from tests.conftest import Clock, Invoker, Reply, new_service
from tests.handlers.helpers import (
    CREATE,
    DELETE,
    DELETE_USER,
    FETCH,
    FETCH_USER,
    LIST,
    LIST_USER_BINDINGS,
    LIST_USERS,
    bindings_path,
    create,
    user_path,
    users_path,
)
from tests.invariants import ServiceAudit, assert_service_consistent

STATES = ["untouched", "ttl", "partly", "forgotten", "gone"]
REPORT = "ReportDeadTokenFunction"
# What an operation may cost in DynamoDB round trips when it meets an expired binding: what it
# costs anyway, plus a read or a transaction - never a loop of retries.
AT_ONCE = 5


@dataclass
class Scene:
    """A Service whose bindings live a day: `expired` (ana's, apn, tags beta and gamma, at
    address "x-token") expired hours ago and is in the state asked for; `live` (ana's, apn, tag
    beta) has hours left."""

    state: str
    service_sid: str
    expired: Binding
    live: dict[str, Any]
    clock: Clock
    invoke: Invoker

    @property
    def bindings(self) -> str:
        return bindings_path(self.service_sid)

    def listed(self, function: str = LIST, path: str | None = None, **query: Any) -> list[str]:
        """Every SID a list returns, following its pages."""
        reply = self.invoke(function, path or self.bindings, query=query)
        assert reply.status == 200, reply.body
        page = reply.json()
        sids = [binding["sid"] for binding in page["bindings"]]
        while url := page["meta"]["next_page_url"]:
            assert len(sids) < 100, "a listing that does not end"
            parts = urlsplit(url)
            page = self.invoke(function, parts.path, query=parse_qsl(parts.query)).json()
            sids += [binding["sid"] for binding in page["bindings"]]
        return sids

    def audit(self) -> ServiceAudit:
        """The invariants hold now, and once ForgetExpiredFunction has done its work for the
        expired binding (as TTL's delete reaches it, at least once): nothing of its index left."""
        if self.state != "partly":  # its index half gone is this scene's own doing
            self.audit_as_is()
        dependencies.binding_store().forget_expired(self.expired)
        audited = self.audit_as_is()
        assert self.expired.sid not in audited.expired_indexed
        return audited

    def audit_as_is(self) -> ServiceAudit:
        settings = dependencies.settings()
        return assert_service_consistent(
            dependencies.dynamodb(),
            settings.bindings_table,
            settings.binding_index_table,
            self.service_sid,
            now=self.clock.timestamp(),
        )


def build_state(state: str, service_sid: str, address: str) -> Binding:
    """Leave the expired binding at `address` in `state`, as TTL and the clean-up would."""
    settings = dependencies.settings()
    client = dependencies.dynamodb()
    key = {"ServiceSid": {"S": service_sid}, "Address": {"S": address}}
    binding = binding_from(client.get_item(TableName=settings.bindings_table, Key=key)["Item"])
    if state in ("forgotten", "gone"):
        assert dependencies.binding_store().forget_expired(binding)
    if state in ("ttl", "partly", "gone"):
        client.delete_item(TableName=settings.bindings_table, Key=key)
    if state == "partly":
        for partition in (service_sid, f"{service_sid}#tag#beta"):
            client.delete_item(
                TableName=settings.binding_index_table,
                Key={"pk": {"S": partition}, "sk": {"S": binding.sid}},
            )
    return binding


@pytest.fixture(params=STATES)
def scene(request: Any, invoke: Invoker, account: Any, clock: Clock) -> Scene:
    service_sid = new_service(account.sid, binding_ttl_days=1)
    create(invoke, service_sid, Identity="ana", Address="x-token", Tag=["beta", "gamma"])
    clock.advance(hours=12)
    live = create(invoke, service_sid, Identity="ana", Address="l-token", Tag="beta")
    clock.advance(hours=14)  # the first expired two hours ago; the second has ten hours left
    expired = build_state(request.param, service_sid, "x-token")
    return Scene(request.param, service_sid, expired, live, clock, invoke)


def counted(run: Callable[[], Reply]) -> tuple[Reply, int]:
    """The reply, and the DynamoDB round trips the functions made for it."""
    with counting(dependencies.dynamodb()) as trips:
        reply = run()
    return reply, trips.total


# -- reads ------------------------------------------------------------------------------------


def test_given_an_expired_binding_in_any_state_when_fetched_then_404(scene):
    reply = scene.invoke(FETCH, f"{scene.bindings}/{scene.expired.sid}")

    assert reply.status == 404
    assert reply.json()["code"] == 20404


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"Identity": "ana"},
        {"Tag": "beta"},
        {"Tag": ["beta", "gamma"]},
        {"Tag": "apn"},
        {"Tag": "all"},
        {"StartDate": "2000-01-01"},
        {"Address": "x-token"},
        {"PageSize": "1"},
    ],
    ids=repr,
)
def test_given_an_expired_binding_in_any_state_when_listed_any_way_then_every_page_leaves_it_out(
    scene, query
):
    listed = scene.listed(**query)

    if query.get("Tag") == ["beta", "gamma"] or "Address" in query:
        assert listed == []  # only the expired one matches
    else:
        assert listed == [scene.live["sid"]]


def test_given_an_identity_with_an_expired_binding_when_its_user_is_read_then_it_counts_and_lists_only_the_live_one(  # noqa: E501
    scene,
):
    user = scene.invoke(FETCH_USER, user_path(scene.service_sid, "ana"))
    assert user.status == 200
    assert user.json()["binding_count"] == 1

    bindings = f"{user_path(scene.service_sid, 'ana')}/Bindings"
    assert scene.listed(LIST_USER_BINDINGS, bindings) == [scene.live["sid"]]
    users = scene.invoke(LIST_USERS, users_path(scene.service_sid)).json()["users"]
    assert [(user["identity"], user["binding_count"]) for user in users] == [("ana", 1)]


def test_given_an_identity_whose_bindings_have_all_expired_when_its_user_is_read_then_it_is_gone(
    scene,
):
    scene.clock.advance(hours=11)  # the live one expires too

    assert scene.invoke(FETCH_USER, user_path(scene.service_sid, "ana")).status == 404
    bindings = f"{user_path(scene.service_sid, 'ana')}/Bindings"
    assert scene.invoke(LIST_USER_BINDINGS, bindings).status == 404
    assert scene.invoke(LIST_USERS, users_path(scene.service_sid)).json()["users"] == []
    assert scene.listed() == []


# -- writes -----------------------------------------------------------------------------------


def test_given_an_expired_binding_in_any_state_when_deleted_then_404_at_once(scene):
    reply, trips = counted(lambda: scene.invoke(DELETE, f"{scene.bindings}/{scene.expired.sid}"))

    assert reply.status == 404
    assert trips == 1
    scene.audit()


def test_given_an_expired_binding_in_any_state_when_a_create_takes_its_address_then_a_new_binding_alone_holds_it(  # noqa: E501
    scene,
):
    form = {"Identity": "bob", "BindingType": "apn", "Address": "x-token", "Tag": "beta"}

    reply, trips = counted(lambda: scene.invoke(CREATE, scene.bindings, form=form))

    assert reply.status == 201, reply.body
    assert trips <= AT_ONCE
    created = reply.json()
    assert created["sid"] != scene.expired.sid
    assert scene.listed(Address="x-token") == [created["sid"]]
    assert scene.listed(Tag="beta") == sorted([scene.live["sid"], created["sid"]])
    assert scene.invoke(FETCH, f"{scene.bindings}/{scene.expired.sid}").status == 404
    audited = scene.audit()
    assert audited.sids_by_identity == {"ana": (scene.live["sid"],), "bob": (created["sid"],)}


def test_given_an_expired_binding_in_any_state_when_its_identity_creates_it_again_then_it_is_a_new_binding(  # noqa: E501
    scene,
):
    form = {"Identity": "ana", "BindingType": "apn", "Address": "x-token", "Tag": ["beta", "gamma"]}

    reply, trips = counted(lambda: scene.invoke(CREATE, scene.bindings, form=form))

    assert reply.status == 201, reply.body
    assert trips <= AT_ONCE
    created = reply.json()["sid"]
    assert created != scene.expired.sid
    assert scene.listed(Tag=["beta", "gamma"]) == [created]
    assert scene.audit().sids_by_identity == {"ana": tuple(sorted([scene.live["sid"], created]))}


@pytest.mark.parametrize("policy", ["reject", "evict_oldest"])
def test_given_an_identity_at_its_limit_with_an_expired_binding_when_it_creates_one_more_then_the_expired_one_gives_way_and_no_live_one_goes(  # noqa: E501
    scene, policy
):
    update = scene.invoke(
        "UpdateServiceFunction",
        f"/v1/Services/{scene.service_sid}",
        form={"IdentityBindingLimitPolicy": policy},
    )
    assert update.status == 200
    live = [scene.live["sid"]]
    live += [
        create(scene.invoke, scene.service_sid, Identity="ana", Address=f"more-{n}")["sid"]
        for n in range(18)
    ]  # 19 live, and the expired one wherever its copy is left: the count is at the limit
    form = {"Identity": "ana", "BindingType": "apn", "Address": "one-more"}

    reply, trips = counted(lambda: scene.invoke(CREATE, scene.bindings, form=form))

    assert reply.status == 201, reply.body
    assert trips <= AT_ONCE
    live.append(reply.json()["sid"])
    assert scene.audit().sids_by_identity == {"ana": tuple(sorted(live))}
    refused = scene.invoke(CREATE, scene.bindings, form={**form, "Address": "too-many"})
    if policy == "reject":
        assert refused.status == 400  # live bindings hold every place now
    else:
        assert refused.status == 201
        assert scene.invoke(FETCH, f"{scene.bindings}/{live[0]}").status == 404  # the oldest


def test_given_an_identity_with_an_expired_binding_when_erased_then_204_and_nothing_of_either_is_left(  # noqa: E501
    scene,
):
    reply, trips = counted(lambda: scene.invoke(DELETE_USER, user_path(scene.service_sid, "ana")))

    assert reply.status == 204
    assert trips <= AT_ONCE
    assert scene.invoke(FETCH, f"{scene.bindings}/{scene.live['sid']}").status == 404
    audited = scene.audit()
    assert audited.sids_by_identity == {}
    if scene.state != "forgotten":
        # The erasure takes its address item too, where the identity record still names it.
        # (Forgotten with its address item left, nothing names it: no write of ours leaves it
        # so - the clean-up runs after TTL's delete, and a create that takes an expired
        # binding's place takes its address item - and TTL deletes it.)
        assert audited.expired_addressed == frozenset()


def test_given_an_identity_whose_bindings_have_all_expired_when_erased_then_404_and_they_are_cleaned_up(  # noqa: E501
    scene,
):
    scene.clock.advance(hours=11)

    reply, trips = counted(lambda: scene.invoke(DELETE_USER, user_path(scene.service_sid, "ana")))

    assert reply.status == 404
    assert trips <= AT_ONCE
    audited = scene.audit_as_is()
    assert audited.expired_indexed == frozenset()
    if scene.state != "forgotten":  # (see the erasure test above)
        assert audited.expired_addressed == frozenset()


def test_given_an_expired_binding_when_its_address_is_reported_dead_then_nothing_is_removed(scene):
    report = {"Address": "x-token", "Reason": "unregistered"}
    path = f"/v1/Services/{scene.service_sid}/DeadTokens"

    reply, trips = counted(lambda: scene.invoke(REPORT, path, form=report))

    assert reply.status == 200, reply.body
    assert reply.json()["removed"] is False
    assert trips <= AT_ONCE
    scene.audit()


def test_given_a_live_binding_when_its_expiry_passes_then_it_is_gone_that_second_and_not_before(
    invoke, account, clock
):
    service_sid = new_service(account.sid, binding_ttl_days=1)
    made = create(invoke, service_sid, Identity="ana", Address="token")
    path = f"{bindings_path(service_sid)}/{made['sid']}"
    expiry = int(clock.timestamp()) + 86_400

    clock.moment = datetime.fromtimestamp(expiry - 0.001, clock.moment.tzinfo)
    assert invoke(FETCH, path).status == 200
    assert invoke(LIST, bindings_path(service_sid)).json()["bindings"] != []
    clock.moment = datetime.fromtimestamp(expiry, clock.moment.tzinfo)
    assert invoke(FETCH, path).status == 404
    assert invoke(LIST, bindings_path(service_sid)).json()["bindings"] == []


# -- cost -------------------------------------------------------------------------------------


def test_given_many_expired_bindings_when_listed_then_each_page_reads_a_bounded_number_of_items_and_every_live_one_comes_once(  # noqa: E501
    invoke, account, clock, store_limits
):
    skipped = 6
    store_limits(Limits(reads=ReadBudgets(skipped=skipped)))
    service_sid = new_service(account.sid, binding_ttl_days=1)
    live = []
    for number in range(24):
        later = number % 8 == 7  # three of them are created half a day after the rest
        clock.advance(hours=12 if later else 0)
        made = create(invoke, service_sid, Identity=f"u{number}", Address=f"a{number}")
        clock.advance(hours=-12 if later else 0)
        if later:
            live.append(made["sid"])
    clock.advance(hours=26)  # all but those three have expired

    pages: list[list[str]] = []
    scanned: list[int] = []
    path, query = bindings_path(service_sid), [("PageSize", "2")]
    while True:
        with counting(dependencies.dynamodb()) as trips:
            reply = invoke(LIST, path, query=query)
        assert reply.status == 200, reply.body
        scanned.append(trips.total)
        page = reply.json()
        pages.append([binding["sid"] for binding in page["bindings"]])
        if not page["meta"]["next_page_url"]:
            break
        url = urlsplit(page["meta"]["next_page_url"])
        path, query = url.path, parse_qsl(url.query)
        assert len(pages) < 30, "a listing that does not end"

    assert [sid for page in pages for sid in page] == sorted(live)
    assert any(len(page) < 2 for page in pages[:-1])  # pages that ended short, past what they read
    assert max(scanned) <= 4  # the Service, and a few queries however many have expired
