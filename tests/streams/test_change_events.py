"""Change events: the bindings table's stream (moto's) read as Lambda's event source reads it,
PublishChangesFunction invoked with each batch, and what reaches the EventBridge bus (moto's,
through a rule to a queue) - one event per create, replace and removal, each removal named
by its cause, in order, never with the address; and expiry: DynamoDB's TTL imitated by the
local sweeper, after which ForgetExpiredFunction, reading the same stream on its own, leaves the
indexes and counts exact - whether or not the bus takes the events.

moto's stream records never name a deleter, so its TTL deletes cannot be told from ours: the
local sweeper marks its own (as DynamoDB's stream would), and `test_recorded_ttl_event.py`
checks the function against a record as DynamoDB Streams writes one.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from local_api.runtime import LocalFunctions, sqs_client, streams_client
from local_api.stream_sources import StreamPoller, TtlSweeper
from local_api.template import SamTemplate
from notify_bindings import dependencies
from tests.conftest import Clock, Invoker, new_service
from tests.invariants import assert_service_consistent

FUNCTION = "PublishChangesFunction"
CLEAN_UP = "ForgetExpiredFunction"
BUS = "ChangeEventBus"
CREATE = "CreateBindingFunction"
DELETE = "DeleteBindingFunction"
DELETE_USER = "DeleteUserFunction"
LIST = "ListBindingsFunction"
DAY = 86_400


@pytest.fixture
def sweeper(template: SamTemplate, dynamodb: Any) -> TtlSweeper:
    return TtlSweeper(dynamodb, template, {name: name for name in template.tables})


def mapping(
    template: SamTemplate,
    functions: LocalFunctions,
    dynamodb: Any,
    sweeper: TtlSweeper,
    function: str,
) -> StreamPoller:
    """The function's event source mapping, from the end of the stream as it is now."""
    (source,) = template.functions[function].stream_sources
    poller = StreamPoller(
        functions,
        function,
        source,
        source.table,
        dynamodb,
        streams_client(None),
        sweeper,
        starting_position="LATEST",
    )
    poller.open()
    return poller


@pytest.fixture
def stream(
    template: SamTemplate, functions: LocalFunctions, dynamodb: Any, sweeper: TtlSweeper
) -> StreamPoller:
    """PublishChangesFunction's mapping."""
    return mapping(template, functions, dynamodb, sweeper, FUNCTION)


@pytest.fixture
def clean_up(
    template: SamTemplate, functions: LocalFunctions, dynamodb: Any, sweeper: TtlSweeper
) -> StreamPoller:
    """ForgetExpiredFunction's mapping: TTL's deletes alone reach it."""
    return mapping(template, functions, dynamodb, sweeper, CLEAN_UP)


def bindings(service_sid: str) -> str:
    return f"/v1/Services/{service_sid}/Bindings"


def create(invoke: Invoker, service_sid: str, **form: Any) -> dict[str, Any]:
    reply = invoke(CREATE, bindings(service_sid), form={"BindingType": "fcm", **form})
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.json()
    return created


def audit(dynamodb: Any, service_sid: str, clock: Clock | None = None) -> Any:
    return assert_service_consistent(
        dynamodb,
        "BindingsTable",
        "BindingIndexTable",
        service_sid,
        now=clock.timestamp() if clock else None,
    )


def put_events_failing(monkeypatch: Any, *, call: int, sent: int) -> dict[str, int]:
    """The layer's PutEvents, but its `call`-th call publishes only its first `sent` entries
    and answers InternalFailure for the rest; returns the count of calls, as it grows."""
    events = dependencies.events()
    real = events.put_events
    calls = {"n": 0}

    def put_events(**request: Any) -> Any:
        calls["n"] += 1
        if calls["n"] != call:
            return real(**request)
        entries = request["Entries"]
        published = real(Entries=entries[:sent])["Entries"] if sent else []
        failed = {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
        unpublished = len(entries) - len(published)
        return {"FailedEntryCount": unpublished, "Entries": published + [failed] * unpublished}

    monkeypatch.setattr(events, "put_events", put_events)
    return calls


def changes(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(event["detail"]["change"], event["detail"]["binding_sid"]) for event in events]


def test_given_a_create_an_unchanged_recreate_a_replace_and_a_delete_when_published_then_one_event_each_in_order_and_never_the_address(  # noqa: E501
    invoke, service_sid, stream, bus
):
    first = create(invoke, service_sid, Identity="alice", Address="token-secret-1", Tag="beta")
    create(invoke, service_sid, Identity="alice", Address="token-secret-1", Tag="beta")
    second = create(invoke, service_sid, Identity="bob", Address="token-secret-1")
    assert invoke(DELETE, f"{bindings(service_sid)}/{second['sid']}").status == 204

    stream.drain()
    events = bus.events(service_sid)

    assert changes(events) == [
        ("created", first["sid"]),
        ("replaced", second["sid"]),
        ("deleted", second["sid"]),
    ]
    assert [event["detail-type"] for event in events] == [
        "Binding Created",
        "Binding Replaced",
        "Binding Deleted",
    ]
    created, replaced, deleted = (event["detail"] for event in events)
    assert created["identity"] == "alice"
    assert created["binding_type"] == "fcm"
    assert replaced["identity"] == "bob"
    assert replaced["previous_binding_sid"] == first["sid"]
    assert replaced["previous_identity"] == "alice"
    assert deleted["account_sid"] == first["account_sid"]
    assert all(event["source"] == "notify-bindings" for event in events)
    assert len({event["detail"]["event_id"] for event in events}) == 3
    sequences = [int(event["detail"]["sequence"]) for event in events]
    assert sequences == sorted(sequences)
    assert "token-secret-1" not in json.dumps(events)


def test_given_an_erasure_an_eviction_and_a_deleted_service_when_published_then_each_removal_names_its_cause(  # noqa: E501
    invoke, account, service_sid, stream, bus, functions, aws
):
    erased = [create(invoke, service_sid, Identity="carol", Address=f"c-{n}") for n in range(2)]
    assert invoke(DELETE_USER, f"/v1/Services/{service_sid}/Users/carol").status == 204
    evicting = new_service(account.sid, identity_binding_limit_policy="evict_oldest")
    made = [create(invoke, evicting, Identity="dave", Address=f"d-{n}") for n in range(21)]

    stream.drain()

    removals = [c for c in changes(bus.events(service_sid)) if c[0] != "created"]
    assert sorted(removals) == sorted(("erased", binding["sid"]) for binding in erased)
    evictions = [c for c in changes(bus.events(evicting)) if c[0] not in ("created",)]
    assert evictions == [("evicted", made[0]["sid"])]

    # A deleted Service's bindings go with its purge, which records no cause: the Service does.
    reply = invoke("DeleteServiceFunction", f"/v1/Services/{evicting}")
    assert reply.status == 204
    purge = functions.functions["PurgeServiceFunction"].sqs_sources[0]
    queue = aws[purge.queue]
    sqs = sqs_client(None)
    while messages := sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            from local_api.events import sqs_event

            functions.invoke("PurgeServiceFunction", sqs_event([message], queue.arn))
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    stream.drain()
    purged = changes(bus.events(evicting))
    assert sorted(purged) == sorted(("service_deleted", b["sid"]) for b in made[1:])


def test_given_a_service_with_a_binding_ttl_when_its_binding_expires_then_the_event_is_expired_and_every_index_and_count_is_exact(  # noqa: E501
    invoke, account, stream, clean_up, bus, sweeper, dynamodb, clock
):
    service_sid = new_service(account.sid, binding_ttl_days=30)
    kept = create(invoke, service_sid, Identity="erin", Address="kept", Tag="beta")
    expiring = create(invoke, service_sid, Identity="erin", Address="old", Tag="beta")
    item = dynamodb.get_item(
        TableName="BindingsTable",
        Key={"ServiceSid": {"S": service_sid}, "Address": {"S": "old"}},
    )["Item"]
    created = datetime.fromisoformat(item["DateCreated"]["S"])
    assert int(item["ExpiresAt"]["N"]) == int(created.timestamp()) + 30 * DAY
    clock.advance(days=20)  # one is created again (as an app does at every start), not the other
    create(invoke, service_sid, Identity="erin", Address="kept", Tag="beta")
    clock.advance(days=11)

    assert sweeper.sweep_once(now=clock.timestamp()) >= 1  # (other tests' bindings expire too)
    stream.drain()
    clean_up.drain()

    assert changes(bus.events(service_sid)) == [
        ("created", kept["sid"]),
        ("created", expiring["sid"]),
        ("expired", expiring["sid"]),
    ]
    after = audit(dynamodb, service_sid, clock)  # no index item, count or copy of it is left
    assert after.sids == {kept["sid"]}
    assert after.sids_by_identity == {"erin": (kept["sid"],)}
    assert after.expired_indexed == after.expired_addressed == frozenset()
    listed = invoke(LIST, bindings(service_sid), query={"Tag": "beta"}).json()["bindings"]
    assert [binding["sid"] for binding in listed] == [kept["sid"]]
    by_identity = invoke(LIST, bindings(service_sid), query={"Identity": "erin"}).json()
    assert [binding["sid"] for binding in by_identity["bindings"]] == [kept["sid"]]


def test_given_a_ttl_delete_delivered_twice_when_published_and_cleaned_up_then_the_event_repeats_with_its_id_and_the_counts_stay_exact(  # noqa: E501
    invoke, account, functions, dynamodb, bus, stream, clean_up, sweeper, clock
):
    service_sid = new_service(account.sid, binding_ttl_days=1)
    binding = create(invoke, service_sid, Identity="frank", Address="gone")
    clock.advance(hours=23)
    stays = create(invoke, service_sid, Identity="frank", Address="stays")
    stream.drain()
    clean_up.drain()
    clock.advance(hours=2)
    assert sweeper.sweep_once(now=clock.timestamp()) >= 1
    # One batch for each reader, as its event source would deliver it, kept to go again.
    published, cleaned = stream.next_batch(), clean_up.next_batch()
    assert published is not None
    assert cleaned is not None
    assert {record["userIdentity"]["principalId"] for record in cleaned["Records"]} == {
        "dynamodb.amazonaws.com"
    }

    for _ in range(2):  # delivered again
        assert functions.invoke(FUNCTION, published) == {"batchItemFailures": []}
        assert functions.invoke(CLEAN_UP, cleaned) == {"batchItemFailures": []}

    first, again = (e for e in bus.events(service_sid) if e["detail"]["change"] == "expired")
    assert first["detail"] == again["detail"]  # the same event_id: a consumer sees one change
    assert first["detail"]["binding_sid"] == binding["sid"]
    # Forgotten once: the second clean-up found nothing left to take (no count went below).
    after = audit(dynamodb, service_sid, clock)
    assert after.sids_by_identity == {"frank": (stays["sid"],)}
    assert after.expired_indexed == frozenset()


def test_given_eventbridge_refusing_every_event_when_bindings_expire_then_the_clean_up_completes_and_the_events_go_out_once_each_when_it_recovers(  # noqa: E501
    invoke, account, dynamodb, bus, stream, clean_up, sweeper, clock, monkeypatch
):
    service_sid = new_service(account.sid, binding_ttl_days=1)
    made = [create(invoke, service_sid, Identity="gus", Address=f"g-{n}") for n in range(3)]
    stream.drain()
    bus.events(service_sid)
    events = dependencies.events()
    refused = {"n": 0}

    def refusing(**request: Any) -> Any:
        refused["n"] += 1
        failed = {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
        entries = request["Entries"]
        return {"FailedEntryCount": len(entries), "Entries": [failed] * len(entries)}

    monkeypatch.setattr(events, "put_events", refusing)
    clock.advance(days=2)
    assert sweeper.sweep_once(now=clock.timestamp()) >= 3

    # While the bus refuses: the publisher fails its batch again and again; the clean-up is done.
    for _ in range(3):
        stream.poll_once()
    assert clean_up.drain() >= 3
    assert refused["n"] == 3
    after = audit(dynamodb, service_sid, clock)
    assert after.expired_indexed == frozenset()
    assert after.sids_by_identity == {}

    monkeypatch.undo()  # the bus takes events again
    stream.drain()

    expired = changes(bus.events(service_sid))
    assert sorted(expired) == sorted(("expired", binding["sid"]) for binding in made)


def test_given_an_expired_binding_when_a_create_takes_its_address_before_ttl_then_it_is_published_as_expired_then_created(  # noqa: E501
    invoke, account, dynamodb, bus, stream, clean_up, sweeper, clock
):
    service_sid = new_service(account.sid, binding_ttl_days=1)
    old = create(invoke, service_sid, Identity="hana", Address="token", Tag="beta")
    clock.advance(days=2)

    new = create(invoke, service_sid, Identity="hana", Address="token", Tag="beta")
    sweeper.sweep_once(now=clock.timestamp())  # the address item holds the new one: it stays
    stream.drain()
    clean_up.drain()

    assert new["sid"] != old["sid"]
    published = bus.events(service_sid)
    assert changes(published) == [
        ("created", old["sid"]),
        ("expired", old["sid"]),
        ("created", new["sid"]),
    ]
    event_ids = [event["detail"]["event_id"] for event in published]
    assert event_ids[1] == event_ids[2] + ":expired"  # two events of one stream record
    after = audit(dynamodb, service_sid, clock)
    assert after.sids_by_identity == {"hana": (new["sid"],)}
    assert after.expired_indexed == after.expired_addressed == frozenset()


def test_given_put_events_failing_in_the_middle_when_published_then_lambda_resumes_at_the_first_unpublished_record_and_order_holds(  # noqa: E501
    invoke, service_sid, stream, bus, monkeypatch
):
    made = [create(invoke, service_sid, Identity="gina", Address=f"g-{n}") for n in range(12)]
    calls = put_events_failing(monkeypatch, call=2, sent=1)  # the first goes, the rest fail
    stream.drain()

    published = changes(bus.events(service_sid))
    assert published == [("created", binding["sid"]) for binding in made]
    assert calls["n"] == 3  # 10 went, then 1 of 2, then the one that failed, again


def test_given_a_ttl_delete_whose_batch_failed_when_delivered_again_then_it_is_still_published_as_expired(  # noqa: E501
    invoke, account, dynamodb, stream, clean_up, sweeper, bus, monkeypatch
):
    # Given a binding DynamoDB's TTL deleted, and the first PutEvents of its change failing
    service_sid = new_service(account.sid, binding_ttl_days=1)
    lapsed = create(invoke, service_sid, Identity="gail", Address="lapsed")
    stream.drain()
    key = {"ServiceSid": {"S": service_sid}, "Address": {"S": "lapsed"}}
    item = dynamodb.get_item(TableName="BindingsTable", Key=key)["Item"]
    assert sweeper.sweep_once(now=int(item["ExpiresAt"]["N"])) == 1
    calls = put_events_failing(monkeypatch, call=1, sent=0)

    # When the event source delivers the record, and again after the reported failure
    stream.drain()

    # Then the second delivery still names DynamoDB as the deleter: the binding expired
    assert calls["n"] == 2
    assert changes(bus.events(service_sid)) == [
        ("created", lapsed["sid"]),
        ("expired", lapsed["sid"]),
    ]


def test_given_an_unchanged_recreate_when_a_day_has_passed_then_its_expiry_moves_on_with_no_event_and_not_before(  # noqa: E501
    invoke, account, stream, bus, dynamodb, monkeypatch
):
    service_sid = new_service(account.sid, binding_ttl_days=7)
    made = create(invoke, service_sid, Identity="hal", Address="token")
    key = {"ServiceSid": {"S": service_sid}, "Address": {"S": "token"}}

    def expiry() -> int:
        return int(dynamodb.get_item(TableName="BindingsTable", Key=key)["Item"]["ExpiresAt"]["N"])

    first = expiry()
    start = dependencies.now()
    monkeypatch.setattr(dependencies, "now", lambda: start + timedelta(hours=23))
    create(invoke, service_sid, Identity="hal", Address="token")
    assert expiry() == first  # within a day: no write
    monkeypatch.setattr(dependencies, "now", lambda: start + timedelta(days=2))
    again = create(invoke, service_sid, Identity="hal", Address="token")
    assert again["sid"] == made["sid"]
    assert expiry() == int((start + timedelta(days=2)).timestamp()) + 7 * DAY

    stream.drain()
    assert changes(bus.events(service_sid)) == [("created", made["sid"])]


def test_given_a_create_refused_at_the_identity_limit_when_published_then_it_left_no_record_and_no_event(  # noqa: E501
    invoke, service_sid, stream, bus
):
    for number in range(20):
        create(invoke, service_sid, Identity="ivy", Address=f"i-{number}")
    stream.drain()
    bus.events(service_sid)

    refused = invoke(
        CREATE,
        bindings(service_sid),
        form={"BindingType": "fcm", "Identity": "ivy", "Address": "x"},
    )
    assert refused.status == 400

    assert stream.drain() == 0
    assert bus.events(service_sid) == []


@pytest.mark.parametrize("days", ["0", "3651", "ten", "1.5"])
def test_given_a_binding_ttl_out_of_range_when_a_service_is_created_or_updated_then_400(
    invoke, service_sid, days
):
    created = invoke("CreateServiceFunction", "/v1/Services", form={"BindingTtlDays": days})
    updated = invoke(
        "UpdateServiceFunction", f"/v1/Services/{service_sid}", form={"BindingTtlDays": days}
    )

    assert (created.status, updated.status) == (400, 400)
    assert created.json()["code"] == 20001


def test_given_a_binding_ttl_when_set_and_cleared_then_the_service_shows_it(invoke, service_sid):
    path = f"/v1/Services/{service_sid}"
    assert invoke("FetchServiceFunction", path).json()["binding_ttl_days"] is None

    assert (
        invoke("UpdateServiceFunction", path, form={"BindingTtlDays": "90"}).json()[
            "binding_ttl_days"
        ]
        == 90
    )
    assert invoke("FetchServiceFunction", path).json()["binding_ttl_days"] == 90
    assert (
        invoke("UpdateServiceFunction", path, form={"BindingTtlDays": ""}).json()[
            "binding_ttl_days"
        ]
        is None
    )
