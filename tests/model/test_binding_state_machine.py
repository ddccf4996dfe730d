"""Model-based test: random sequences of Binding and Service operations, driven through the
template's handlers (moto in-process, as every handler test), checked step by step against the
in-memory reference model of the contract in reference_model.py.

The machine creates bindings at new addresses, replaces them (same address, another identity,
type or tags), re-creates them identically, fills one identity past its 20 bindings, erases
identities (ours: DELETE .../Users/{Identity}), deletes live, replaced, deleted and malformed
SIDs, fetches, lists with every filter (identities, tags including the implicit `all` and the
binding types, dates) in small pages that it follows through `next_page_url` to the end (and
sometimes back through `previous_page_url`), and creates and deletes Services, driving each
purge to its end through PurgeServiceFunction and the queue. Some Services' bindings expire
after a day (BindingTtlDays): the machine moves the functions' clock on by hours, lets
DynamoDB's TTL delete expired address items, and runs the clean-up that TTL's deletes set off
at once or some steps later, so that expired bindings meet every operation in every state.
After every step it compares the API with the model (the touched Services' full listing, binding
by binding and in order) and audits the touched Services' items with tests/invariants.py.

Small pools of identities, addresses and tags make collisions, replaces and the identity limit
frequent. In CI the run is deterministic (the "model-ci" profile: derandomized, about 350
steps). To look much harder locally, with fresh random examples each run and failures kept in
`.hypothesis/` to be replayed first next time:

    NOTIFY_MODEL_PROFILE=model-thorough .venv/bin/pytest tests/model

(`model-thorough` runs 200 sequences of up to 100 steps; the "model-based test" section of
pytest's closing summary shows the step count.)
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from local_api.runtime import (
    LocalFunctions,
    LocalQueue,
    create_queues,
    create_tables,
    dynamodb_client,
    sqs_client,
)
from local_api.template import SamTemplate
from notify_bindings import dependencies
from notify_bindings.dal.bindings.items import binding_from
from notify_bindings.dal.services import service_key
from notify_bindings.domain.bindings import Binding
from tests.conftest import Invoker, Reply
from tests.factories import new_credential
from tests.handlers.helpers import (
    CREATE,
    DELETE,
    DELETE_USER,
    FETCH,
    FETCH_USER,
    LIST,
    bindings_path,
    user_path,
)
from tests.handlers.test_services import CREATE_SERVICE, DELETE_SERVICE, deliver, service_path
from tests.invariants import assert_service_consistent, audit_service
from tests.model.reference_model import (
    BINDING_TYPES,
    CREDENTIAL_TYPES,
    IMPLICIT_TAG_ALL,
    MAX_BINDINGS_PER_IDENTITY,
    PUSH_TYPES,
    CreateRequest,
    Filters,
    ModelBinding,
    ModelService,
    Outcome,
    Prediction,
    pages,
)
from tests.model.summary import MODEL_RUNS

settings.register_profile(
    "model-ci",
    max_examples=10,
    stateful_step_count=45,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "model-thorough",
    max_examples=200,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("NOTIFY_MODEL_PROFILE", "model-ci")
MIN_STEPS = 300

BASE_URL = "https://127.0.0.1"  # the domain the invoke fixture's events name, as API Gateway: https
BINDINGS_TABLE, INDEX_TABLE, SERVICES_TABLE = "BindingsTable", "BindingIndexTable", "ServicesTable"
MAX_LIVE_SERVICES = 2
ERASURE_SHARE = 16
CLOCK_SHARE = 10  # at most one step in ten moves the clock
TTL_AFTERWARDS = ("TTL deletes", "TTL deletes, cleaned up", "TTL later")
FILLED = MAX_BINDINGS_PER_IDENTITY - 3  # an identity this close to its limit needs no filling

IDENTITIES = ("alice", "bob", "carol", "dave@example.com", "eve f/ü")
# E.164 numbers are valid addresses for every binding type, so any address takes any type.
ADDRESSES = tuple(f"+1555010{n:04d}" for n in range(30))
# "SMS" and "All" spell a binding type and the implicit tag in another case: ordinary explicit
# tags, which filters by the implicit ones must not confuse (the exact names are refused).
TAGS = ("vip", "news", "beta", "SMS", "All")
FILTER_TAGS = (*TAGS, IMPLICIT_TAG_ALL, *BINDING_TYPES, "nobody-has-this")
# Real Credentials of the account (made by the test), one for each kind a binding may name: a
# binding names only one that fits its type (apn: apn; fcm and gcm: fcm or gcm).
CREDENTIAL_KINDS = {
    "CR" + "a" * 32: "apn",
    "CR" + "0123456789abcdef" * 2: "fcm",
    "CR" + "b" * 32: "gcm",
}
CREDENTIALS = ("CR" + "a" * 32, "CR" + "0123456789abcdef" * 2)  # what a request draws
FITTING_CREDENTIALS = {
    "apn": ("CR" + "a" * 32,),
    "fcm": ("CR" + "0123456789abcdef" * 2, "CR" + "b" * 32),
    "gcm": ("CR" + "0123456789abcdef" * 2, "CR" + "b" * 32),
}
VERSIONS = ("3", "4", "5")
MALFORMED_SIDS = (
    "BS" + "0" * 32,  # well-formed, never issued
    "BS",
    "BS" + "0" * 31,
    "BS" + "0" * 33,
    "BS" + "g" * 32,
    "XX" + "0" * 32,
    "bs" + "0" * 32,
    "not-a-sid",
)
DAYS = st.none() | st.sampled_from((-1, 0, 1))
# How far the clock moves at a time. A binding lives a day: never exactly a day, so that whether
# a re-create moves an expiry on (by a day or more) is never a matter of the second.
HOURS = (1, 11, 23, 25, 49)
LIST_FILTERS = ("nothing", "identities", "tags", "dates", "everything")
MISTAKEN_SIDS = ("malformed", "a live SID in capitals", "another Service's live SID")
SID = re.compile(r"BS[0-9a-f]{32}")


def _fitting(request: CreateRequest) -> CreateRequest:
    """The request with its credential swapped for one that fits its binding type (the same
    draws as ever: the exploration stays what it was)."""
    fitting = FITTING_CREDENTIALS.get(request.binding_type)
    if request.credential_sid is None or fitting is None:
        return request
    chosen = fitting[CREDENTIALS.index(request.credential_sid) % len(fitting)]
    return replace(request, credential_sid=chosen)


create_requests = st.builds(
    CreateRequest,
    identity=st.sampled_from(IDENTITIES),
    binding_type=st.sampled_from(BINDING_TYPES),
    tags=st.lists(st.sampled_from(TAGS), max_size=3).map(tuple),
    credential_sid=st.none() | st.sampled_from(CREDENTIALS),
    notification_protocol_version=st.none() | st.sampled_from(VERSIONS),
    endpoint=st.none() | st.just("legacy-endpoint"),
).map(_fitting)
service_defaults = st.dictionaries(
    st.sampled_from(sorted(PUSH_TYPES)), st.sampled_from(VERSIONS), max_size=2
)
ttl_days = st.sampled_from((1, None))


@dataclass
class ShiftedClock:
    """The functions' clock in this test: the time of day, moved on by the machine."""

    offset: timedelta = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def timestamp(self) -> float:
        return self.now().timestamp()


@dataclass(frozen=True)
class OwnTables:
    tables: dict[str, str]  # logical id -> table name
    purge_queue: LocalQueue


@dataclass
class World:
    """What the machine drives, and what it counts across every sequence of a run."""

    invoke: Invoker
    account_sid: str
    dynamodb: Any
    functions: LocalFunctions
    own: OwnTables
    clock: ShiftedClock
    steps: int = 0
    sequences: int = 0
    seen: Counter[str] = field(default_factory=Counter)
    issued: set[str] = field(default_factory=set)  # every binding SID the API issued


class BindingMachine(RuleBasedStateMachine):
    world: World  # set by the test before the run

    def __init__(self) -> None:
        super().__init__()
        self.world.sequences += 1
        self.services: dict[str, ModelService] = {}
        self.retired: list[tuple[str, str]] = []  # (service, SID) replaced, deleted or purged
        self.newest: dict[str, str] = {}  # the newest SID issued in each Service
        self.positions = 0
        self.touched: set[str] = set()
        self.uncleaned: list[Binding] = []  # TTL deleted their address items; clean up later
        self.steps = Counter[str]()  # this sequence's steps, by rule

    @initialize(ttl=ttl_days)
    def first_service(self, ttl: int | None) -> None:
        self._create_service({}, ttl)

    # -- Services ------------------------------------------------------------------------

    @precondition(lambda self: len(self._live_services()) < MAX_LIVE_SERVICES)
    @rule(defaults=service_defaults, ttl=ttl_days)
    def create_service(self, defaults: dict[str, str], ttl: int | None) -> None:
        self._step("create service")
        self._create_service(defaults, ttl)

    @precondition(lambda self: len(self._live_services()) > 1)
    @rule(data=st.data(), hand_over_first=st.booleans())
    def delete_service(self, data: st.DataObject, hand_over_first: bool) -> None:
        self._step("delete service")
        service = self._draw_live_service(data)

        reply = self._call(DELETE_SERVICE, service_path(service.sid))

        assert reply.status == 204, reply.body
        service.deleted = True
        self.touched.add(service.sid)
        # Gone at once, before any purge: its bindings (the oldest, the newest and one
        # between, to a fetch; the oldest to a delete), the list, a create, the Service.
        live = service.live()
        for binding in unique_bindings(live[:1] + live[len(live) // 2 :][:1] + live[-1:]):
            self._assert_not_found(FETCH, self._binding_path(service.sid, binding.sid))
        for binding in live[:1]:
            self._assert_not_found(DELETE, self._binding_path(service.sid, binding.sid))
        self._assert_not_found(LIST, bindings_path(service.sid))
        self._assert_not_found(
            CREATE,
            bindings_path(service.sid),
            form=CreateRequest("alice", "apn").form(ADDRESSES[0]),
        )
        self._assert_not_found(DELETE_SERVICE, service_path(service.sid))

        self._purge(hand_over_first)

        self.retired += [(service.sid, binding.sid) for binding in service.live()]
        service.bindings.clear()
        service.purged = True

    @precondition(lambda self: any(s.deleted for s in self.services.values()))
    @rule(data=st.data(), request=create_requests)
    def use_a_deleted_service(self, data: st.DataObject, request: CreateRequest) -> None:
        self._step("use a deleted service")
        deleted = [sid for sid, service in self.services.items() if service.deleted]
        service = self.services[data.draw(st.sampled_from(deleted), label="deleted service")]
        self.touched.add(service.sid)

        self._assert_not_found(CREATE, bindings_path(service.sid), form=request.form(ADDRESSES[0]))
        self._assert_not_found(LIST, bindings_path(service.sid), query={"Identity": "alice"})

    # -- creates -------------------------------------------------------------------------

    @rule(data=st.data(), request=create_requests)
    def create_at_a_new_address(self, data: st.DataObject, request: CreateRequest) -> None:
        self._step("create at a new address")
        service = self._draw_live_service(data)
        free = [address for address in ADDRESSES if service.live_at(address) is None]
        address = data.draw(st.sampled_from(free or ADDRESSES), label="address")
        self._create(service, request, address)

    @precondition(lambda self: self._has_bindings())
    @rule(data=st.data(), request=create_requests)
    def replace_at_a_live_address(self, data: st.DataObject, request: CreateRequest) -> None:
        self._step("replace at a live address")
        binding = self._draw_live_binding(data)
        self._create(self.services[binding.service_sid], request, binding.address)

    @precondition(lambda self: self._has_bindings())
    @rule(data=st.data())
    def recreate_identically(self, data: st.DataObject) -> None:
        self._step("re-create identically")
        binding = self._draw_live_binding(data)
        service = self.services[binding.service_sid]
        # The same tag set, in another order and with repeats; the credential of a type that
        # ignores credentials may be anything; a version equal to the default may be left out.
        tags = tuple(data.draw(st.permutations(binding.tags), label="tags"))
        tags += tuple(data.draw(st.lists(st.sampled_from(tags), max_size=2))) if tags else ()
        credential = binding.credential_sid
        if binding.binding_type not in CREDENTIAL_TYPES:
            credential = data.draw(st.none() | st.sampled_from(CREDENTIALS), label="credential")
        version = binding.notification_protocol_version
        if version is not None and version == service.defaults.get(binding.binding_type, "3"):
            version = data.draw(st.none() | st.just(version), label="version")
        request = CreateRequest(binding.identity, binding.binding_type, tags, credential, version)

        prediction = self._create(service, request, binding.address)

        assert prediction is Outcome.UNCHANGED  # else this rule tests something else

    @precondition(lambda self: bool(self._unfilled_services()))
    @rule(
        data=st.data(),
        identity=st.sampled_from(IDENTITIES),
        binding_type=st.sampled_from(BINDING_TYPES),
        beyond_the_limit=st.integers(-1, 2),
    )
    def fill_one_identity(
        self, data: st.DataObject, identity: str, binding_type: str, beyond_the_limit: int
    ) -> None:
        """Creates for one identity at addresses it does not hold, up to its limit (or one
        short of it) and a little past it. Once per Service, as a rule (it costs some twenty
        creates): after that, creates for the full identity meet the limit by themselves."""
        self._step("fill one identity")
        unfilled = [service.sid for service in self._unfilled_services()]
        service = self.services[data.draw(st.sampled_from(unfilled), label="service")]
        others = [
            address
            for address in ADDRESSES
            if (held := service.live_at(address)) is None or held.identity != identity
        ]
        attempts = MAX_BINDINGS_PER_IDENTITY - service.count(identity) + beyond_the_limit
        for address in others[: max(attempts, 1)]:
            request = CreateRequest(identity, binding_type, ("news",))
            self._create(service, request, address, fetch=False)

    # -- deletes and fetches -------------------------------------------------------------

    @precondition(lambda self: self._has_bindings())
    @rule(data=st.data())
    def delete_a_live_binding(self, data: st.DataObject) -> None:
        self._step("delete a live binding")
        binding = self._draw_live_binding(data)
        path = self._binding_path(binding.service_sid, binding.sid)

        reply = self._call(DELETE, path)

        assert reply.status == 204, reply.body
        assert reply.body == ""
        self.services[binding.service_sid].remove(binding.sid)
        self.retired.append((binding.service_sid, binding.sid))
        self.touched.add(binding.service_sid)
        self._assert_not_found(FETCH, path)
        self._assert_not_found(DELETE, path)

    # At most one step in ERASURE_SHARE: a rule with nothing to set up would crowd out the
    # rest, and each erasure empties an identity the other rules need full.
    @precondition(
        lambda self: (
            self._has_bindings()
            and self.world.seen["erase an identity"] * ERASURE_SHARE < self.world.steps
        )
    )
    @rule(data=st.data())
    def erase_an_identity(self, data: st.DataObject) -> None:
        """Ours: DELETE .../Users/{Identity} removes every binding of the identity (204), or
        finds none (404)."""
        self._step("erase an identity")
        binding = self._draw_live_binding(data)
        service = self.services[binding.service_sid]
        identity = data.draw(st.sampled_from([binding.identity, "nobody"]), label="identity")
        held = [binding for binding in service.live() if binding.identity == identity]
        path = user_path(service.sid, identity)

        reply = self._call(DELETE_USER, path)

        assert reply.status == (204 if held else 404), reply.body
        for binding in held:
            service.remove(binding.sid)
            self.retired.append((service.sid, binding.sid))
        self.touched.add(service.sid)
        self._assert_not_found(FETCH_USER, path)
        self.world.seen["identity erased" if held else "identity without bindings"] += 1

    @precondition(lambda self: bool(self.retired))
    @rule(data=st.data(), delete=st.booleans())
    def use_a_retired_sid(self, data: st.DataObject, delete: bool) -> None:
        """A replaced, deleted or purged binding's SID is 404, to a fetch and a delete."""
        self._step("use a retired SID")
        service_sid, sid = data.draw(st.sampled_from(self.retired), label="retired")
        self._assert_gone(service_sid, sid, delete)

    @rule(data=st.data(), delete=st.booleans(), kind=st.sampled_from(MISTAKEN_SIDS))
    def use_a_sid_it_did_not_issue(self, data: st.DataObject, delete: bool, kind: str) -> None:
        """Malformed SIDs, an unknown well-formed one, a live SID in capitals or through
        another Service: all 404, and harmless."""
        self._step("use a SID it did not issue")
        service = self._draw_live_service(data)
        sid = data.draw(st.sampled_from(MALFORMED_SIDS), label="sid")
        elsewhere = [b for s in self._live_services() if s is not service for b in s.live()]
        if kind == "a live SID in capitals" and service.live():
            sid = "BS" + service.live()[0].sid[2:].upper()
        elif kind == "another Service's live SID" and elsewhere:
            sid = data.draw(st.sampled_from(elsewhere), label="binding elsewhere").sid
        self._assert_gone(service.sid, sid, delete)

    @precondition(lambda self: self._has_bindings())
    @rule(data=st.data())
    def fetch_a_live_binding(self, data: st.DataObject) -> None:
        self._step("fetch a live binding")
        self._assert_fetched(self._draw_live_binding(data))

    # -- time ----------------------------------------------------------------------------

    @precondition(
        lambda self: (
            any(service.ttl_days and service.live() for service in self._live_services())
            and self.steps["advance the clock"] * CLOCK_SHARE < self.steps.total()
        )
    )
    @rule(hours=st.sampled_from(HOURS), ttl=st.sampled_from(TTL_AFTERWARDS))
    def advance_the_clock(self, hours: int, ttl: str) -> None:
        """Bindings of Services with BindingTtlDays expire: gone at once, nothing deleted.
        Then DynamoDB's TTL deletes their address items, or not yet; and the clean-up that its
        deletes set off (ForgetExpiredFunction) runs at once, or in a later step."""
        self._step("advance the clock")
        before = {b.sid for service in self._live_services() for b in service.live()}
        self.world.clock.offset += timedelta(hours=hours)
        for service in self._live_services():
            gone = [b for b in service.expired() if b.sid in before]
            self.retired += [(service.sid, binding.sid) for binding in gone]
            self.world.seen["binding expired"] += len(gone)
            self.touched.add(service.sid)
        if ttl != "TTL later":
            self._ttl_deletes()
        if ttl == "TTL deletes, cleaned up":
            self.clean_up()

    def _ttl_deletes(self) -> None:
        """DynamoDB's TTL: every expired address item goes."""
        table = self.world.own.tables[BINDINGS_TABLE]
        now = int(self.world.clock.timestamp())
        scanned = self.world.dynamodb.scan(
            TableName=table,
            FilterExpression="ExpiresAt <= :now",
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )["Items"]
        for item in scanned:
            self.world.dynamodb.delete_item(
                TableName=table, Key={"ServiceSid": item["ServiceSid"], "Address": item["Address"]}
            )
            self.uncleaned.append(binding_from(item))
            self.touched.add(item["ServiceSid"]["S"])
        self.world.seen["address item deleted by TTL"] += len(scanned)

    @precondition(lambda self: bool(self.uncleaned))
    @rule()
    def clean_up(self) -> None:
        """ForgetExpiredFunction's work, at least once: some TTL deletes come twice."""
        self.world.seen["clean up after TTL"] += 1
        store = dependencies.binding_store()
        for binding in self.uncleaned + self.uncleaned[::3]:
            store.forget_expired(binding)
            self.touched.add(binding.service_sid)
        self.uncleaned.clear()

    # -- lists ---------------------------------------------------------------------------

    @rule(
        data=st.data(),
        filtered_by=st.sampled_from(LIST_FILTERS),
        page_size=st.sampled_from((1, 2, 3, 5, None)),
        go_back=st.booleans(),
    )
    def list_bindings(
        self, data: st.DataObject, filtered_by: str, page_size: int | None, go_back: bool
    ) -> None:
        self._step("list")
        service = self._draw_live_service(data)
        identities: tuple[str, ...] = ()
        tags: tuple[str, ...] = ()
        start = end = None
        if filtered_by in ("identities", "everything"):
            identities = tuple(data.draw(st.lists(st.sampled_from(IDENTITIES), max_size=3)))
        if filtered_by in ("tags", "everything"):
            tags = tuple(data.draw(st.lists(st.sampled_from(FILTER_TAGS), max_size=3)))
        if filtered_by in ("dates", "everything"):
            today = self.world.clock.now().date()  # days relative to today: -1, 0 or 1
            start, end = (
                None if days is None else today + timedelta(days=days)
                for days in (data.draw(DAYS, label="StartDate"), data.draw(DAYS, label="EndDate"))
            )
        filters = Filters(identities, tags, start, end)
        query = filters.query() + ([] if page_size is None else [("PageSize", str(page_size))])
        expected = [self._resource(b) for b in service.select(filters)]
        expected_pages = pages(expected, page_size or 50)

        listed = self._follow_pages(bindings_path(service.sid), query)

        assert [page["bindings"] for page in listed] == expected_pages, (filters, page_size)
        for number, page in enumerate(listed):
            assert page["meta"]["page"] == number
            assert page["meta"]["page_size"] == (page_size or 50)
            assert page["meta"]["key"] == "bindings"
            assert (page["meta"]["previous_page_url"] is None) == (number == 0)
        self.world.seen["list of several pages" if len(listed) > 1 else "list of one page"] += 1
        if go_back and len(listed) > 1:
            number = data.draw(st.integers(1, len(listed) - 1), label="back from page")
            back = self._get_url(listed[number]["meta"]["previous_page_url"])
            assert back["bindings"] == listed[number - 1]["bindings"]
            assert back["meta"]["page"] == number - 1
            self.world.seen["previous page followed"] += 1

    # -- after every step ----------------------------------------------------------------

    @invariant()
    def the_api_and_the_store_agree_with_the_model(self) -> None:
        for sid in sorted(self.touched):
            service = self.services[sid]
            if service.deleted:
                self._assert_not_found(LIST, bindings_path(sid))
            else:
                self._assert_listing_matches(service)
            audit = assert_service_consistent(
                self.world.dynamodb,
                self.world.own.tables[BINDINGS_TABLE],
                self.world.own.tables[INDEX_TABLE],
                sid,
                now=self.world.clock.timestamp(),
            )
            assert audit.sid_by_address == {
                binding.address: binding.sid for binding in service.live()
            }
            assert audit.sids_by_identity == service.sids_by_identity()
            if service.purged:
                assert self._service_item(sid) is None, "the purge left the Service's item"
        self.touched.clear()

    def teardown(self) -> None:
        # Leave the shared tables as small as we found them: every audit scans them.
        for service in self._live_services():
            reply = self._call(DELETE_SERVICE, service_path(service.sid))
            assert reply.status == 204, reply.body
        self._purge(hand_over_first=False)

    # -- the wire ------------------------------------------------------------------------

    def _create(
        self, service: ModelService, request: CreateRequest, address: str, *, fetch: bool = True
    ) -> Outcome:
        """Create through the API; check the answer against the model's prediction, then
        (unless `fetch` is False: the step's listing checks it anyway) read it back."""
        prediction = service.predict(request, address)
        self.world.seen[prediction.outcome.name] += 1
        self.touched.add(service.sid)
        lapsed = service.bindings.get(address) if prediction.current is None else None
        before = self.world.clock.now().replace(microsecond=0)

        reply = self._call(CREATE, bindings_path(service.sid), form=request.form(address))

        after = self.world.clock.now()
        expected_status = 400 if prediction.outcome is Outcome.REFUSED else 201
        assert reply.status == expected_status, self._diagnosis(service, prediction, reply)
        if prediction.outcome is Outcome.REFUSED:
            assert reply.json()["code"] == 20001
            assert str(MAX_BINDINGS_PER_IDENTITY) in reply.json()["message"]
            return prediction.outcome
        body = reply.json()
        if prediction.outcome is Outcome.UNCHANGED:
            assert prediction.current is not None
            assert body == self._resource(prediction.current), prediction
            self._expiry_moved(service, prediction.current, before)
            return prediction.outcome

        sid, created = body["sid"], body["date_created"]
        assert SID.fullmatch(sid), sid
        assert sid not in self.world.issued, "a SID issued twice"
        self.world.issued.add(sid)
        # Creation order is SID order: a new SID sorts after every SID issued before it.
        assert sid > self.newest.get(service.sid, ""), "a new SID sorts before an older one"
        self.newest[service.sid] = sid
        moment = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before <= moment <= after, (before, created, after)
        if prediction.current is not None:
            service.remove(prediction.current.sid)
            self.retired.append((service.sid, prediction.current.sid))
        if lapsed is not None:  # an expired binding held the address: the create took it
            service.remove(lapsed.sid)
            self.world.seen["create at an expired binding's address"] += 1
        self.positions += 1
        binding = service.store(
            prediction.proposal, sid, created, self.positions, moment.timestamp()
        )
        assert body == self._resource(binding), prediction
        if not fetch:
            return prediction.outcome
        self._assert_fetched(binding)
        if prediction.current is not None:  # the replaced SID is gone at once
            self._assert_not_found(FETCH, self._binding_path(service.sid, prediction.current.sid))
        return prediction.outcome

    def _expiry_moved(self, service: ModelService, binding: ModelBinding, at: datetime) -> None:
        """An unchanged create moves the binding's expiry on when that moves it by a day or
        more: check it did, or did not, and adopt the second it chose (within the request)."""
        if binding.expires_at is None:
            return
        key = {"ServiceSid": {"S": service.sid}, "Address": {"S": binding.address}}
        item = self.world.dynamodb.get_item(
            TableName=self.world.own.tables[BINDINGS_TABLE], Key=key, ConsistentRead=True
        )["Item"]
        stored = int(item["ExpiresAt"]["N"])
        expected = service.expiry_of(at.timestamp())
        assert expected is not None
        if abs(expected - binding.expires_at) >= 86_400:
            assert 0 <= stored - expected <= 5, (stored, expected)  # moved on
            service.refresh(binding, stored)
            self.world.seen["expiry moved on"] += 1
        else:
            assert stored == binding.expires_at

    def _diagnosis(self, service: ModelService, prediction: Prediction, reply: Reply) -> str:
        """What the model expected, what the API answered, and what the store holds."""
        audit, problems = audit_service(
            self.world.dynamodb,
            self.world.own.tables[BINDINGS_TABLE],
            self.world.own.tables[INDEX_TABLE],
            service.sid,
            now=self.world.clock.timestamp(),
        )
        return (
            f"the model expected {prediction}\nthe API answered {reply.status} {reply.body}\n"
            f"the model's bindings per identity: { {i: service.count(i) for i in IDENTITIES} }\n"
            f"the store's: {audit.bindings_per_identity}; its problems: {problems}"
        )

    def _assert_listing_matches(self, service: ModelService) -> None:
        reply = self._call(LIST, bindings_path(service.sid), query={"PageSize": "1000"})
        assert reply.status == 200, reply.body
        page = reply.json()
        assert page["bindings"] == [self._resource(b) for b in service.live()]
        assert page["meta"]["next_page_url"] is None
        sids = [b.sid for b in service.live()]
        assert sids == sorted(sids), "creation order and SID order differ"

    def _assert_fetched(self, binding: ModelBinding) -> None:
        reply = self._call(FETCH, self._binding_path(binding.service_sid, binding.sid))
        assert reply.status == 200, reply.body
        assert reply.json() == self._resource(binding)

    def _assert_gone(self, service_sid: str, sid: str, delete: bool) -> None:
        path = self._binding_path(service_sid, sid)
        if delete:
            self.touched.add(service_sid)  # a write was attempted: check that it changed nothing
            self._assert_not_found(DELETE, path)
        else:
            self._assert_not_found(FETCH, path)

    def _assert_not_found(self, function: str, path: str, **request: Any) -> None:
        reply = self._call(function, path, **request)
        assert reply.status == 404, (function, path, reply.status, reply.body)
        assert reply.json()["code"] == 20404

    def _follow_pages(self, path: str, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
        reply = self._call(LIST, path, query=query)
        assert reply.status == 200, reply.body
        listed = [reply.json()]
        while listed[-1]["meta"]["next_page_url"]:
            assert len(listed) <= len(ADDRESSES), "next_page_url never ends"
            listed.append(self._get_url(listed[-1]["meta"]["next_page_url"]))
        return listed

    def _get_url(self, url: str) -> dict[str, Any]:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == BASE_URL, url
        reply = self._call(LIST, parts.path, query=parse_qsl(parts.query))
        assert reply.status == 200, reply.body
        page: dict[str, Any] = reply.json()
        return page

    def _call(self, function: str, path: str, **request: Any) -> Reply:
        return self.world.invoke(function, path, **request)

    def _create_service(self, defaults: dict[str, str], ttl: int | None) -> ModelService:
        form = {f"Default{kind.capitalize()}NotificationProtocolVersion": version
                for kind, version in defaults.items()}  # fmt: skip
        if ttl is not None:
            form["BindingTtlDays"] = str(ttl)
        reply = self._call(CREATE_SERVICE, "/v1/Services", form={"FriendlyName": "model", **form})
        assert reply.status == 201, reply.body
        service = ModelService(
            reply.json()["sid"], dict(defaults), ttl, clock=self.world.clock.timestamp
        )
        self.services[service.sid] = service
        self.touched.add(service.sid)
        return service

    def _purge(self, hand_over_first: bool) -> None:
        """Deliver the purge queue's messages to PurgeServiceFunction until none is left."""
        functions, queue = self.world.functions, self.world.own.purge_queue
        if hand_over_first:  # an invocation with no time left hands everything on
            deliver(functions, queue, timeout_seconds=0)
        for _ in range(50):
            if not deliver(functions, queue, timeout_seconds=60):
                return
        raise AssertionError("the purge does not finish")

    def _service_item(self, sid: str) -> Any:
        key = service_key(self.world.account_sid, sid)
        table = self.world.own.tables[SERVICES_TABLE]
        found = self.world.dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)
        return found.get("Item")

    # -- choosing ------------------------------------------------------------------------

    def _step(self, name: str) -> None:
        self.world.steps += 1
        self.world.seen[name] += 1
        self.steps[name] += 1

    def _live_services(self) -> list[ModelService]:
        return [service for service in self.services.values() if not service.deleted]

    def _unfilled_services(self) -> list[ModelService]:
        """Live Services where no identity is near its limit."""
        return [
            service
            for service in self._live_services()
            if all(service.count(identity) < FILLED for identity in IDENTITIES)
        ]

    def _has_bindings(self) -> bool:
        return any(service.live() for service in self._live_services())

    def _draw_live_service(self, data: st.DataObject) -> ModelService:
        live = [service.sid for service in self._live_services()]
        return self.services[data.draw(st.sampled_from(live), label="service")]

    def _draw_live_binding(self, data: st.DataObject) -> ModelBinding:
        live = [binding for service in self._live_services() for binding in service.live()]
        return data.draw(st.sampled_from(live), label="binding")

    def _resource(self, binding: ModelBinding) -> dict[str, Any]:
        return binding.resource(self.world.account_sid, BASE_URL)

    @staticmethod
    def _binding_path(service_sid: str, sid: str) -> str:
        return f"{bindings_path(service_sid)}/{sid}"


def unique_bindings(bindings: list[ModelBinding]) -> list[ModelBinding]:
    return list({binding.sid: binding for binding in bindings}.values())


@pytest.fixture
def own_tables(template: SamTemplate, aws: dict[str, LocalQueue]) -> Iterator[OwnTables]:
    """The template's tables and queues under a prefix of this test's own, named to the
    functions through their environment (as the template names them), so that the audit's
    scans read this test's items only, whatever other tests left in the shared tables."""
    from notify_bindings import dependencies

    prefix = f"model-{secrets.token_hex(4)}-"
    client = dynamodb_client(None)
    tables = create_tables(client, template, prefix=prefix)
    queues = create_queues(sqs_client(None), template, prefix=prefix)
    with pytest.MonkeyPatch.context() as patch:
        for variable, logical_id in (
            ("BINDINGS_TABLE", BINDINGS_TABLE),
            ("BINDING_INDEX_TABLE", INDEX_TABLE),
            ("SERVICES_TABLE", SERVICES_TABLE),
        ):
            patch.setenv(variable, tables[logical_id])
        patch.setenv("SERVICE_PURGE_QUEUE_URL", queues["ServicePurgeQueue"].url)
        dependencies.reset()
        try:
            yield OwnTables(tables, queues["ServicePurgeQueue"])
        finally:
            dependencies.reset()
    dependencies.reset()  # once more, now that the environment is the shared tables' again
    for name in tables.values():
        client.delete_table(TableName=name)


@pytest.fixture
def model_credentials(account, own_tables) -> None:
    """The Credentials the model's bindings name, real and of the account, in its own tables."""
    for sid, kind in CREDENTIAL_KINDS.items():
        new_credential(account.sid, kind, sid=sid)


@pytest.mark.slow
@pytest.mark.usefixtures("model_credentials")
def test_given_random_sequences_of_operations_then_the_api_always_agrees_with_the_model(
    invoke, account, dynamodb, functions, own_tables, record_property
):
    clock = ShiftedClock()
    world = World(invoke, account.sid, dynamodb, functions, own_tables, clock)
    BindingMachine.world = world
    started = time.monotonic()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dependencies, "now", clock.now)
        run_state_machine_as_test(BindingMachine, settings=settings.get_profile(PROFILE))

    elapsed = time.monotonic() - started
    record_property("model_steps", world.steps)
    MODEL_RUNS.add(
        f"{PROFILE}: {world.steps} steps in {world.sequences} "
        f"sequences, {elapsed:.1f} s; {dict(sorted(world.seen.items()))}"
    )
    assert world.steps >= MIN_STEPS
    # The pools are small so that the contract's edge cases happen: check that they did.
    for case in (
        "REFUSED",
        "REPLACED",
        "UNCHANGED",
        "delete service",
        "list of several pages",
        "identity erased",
        "binding expired",
        "address item deleted by TTL",
        "clean up after TTL",
        "create at an expired binding's address",
    ):
        assert world.seen[case] > 0, f"no {case!r} in the whole run"
