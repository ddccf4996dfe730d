"""The bindings table's stream readers with the recorded batches of events/: a stream batch as
Lambda delivers it from DynamoDB Streams - a create, an expiry refresh (the same SID) and a
delete by DynamoDB's TTL, whose record names DynamoDB as the deleter (`userIdentity`), which
moto's stream records never do - and that delete alone, as the clean-up's filter lets it
through. The expired binding's index items, copy and count are still in the store, as TTL
leaves them: PublishChangesFunction publishes the expiry and leaves them; ForgetExpiredFunction
removes them, once."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from local_api.template import PROJECT_ROOT
from notify_bindings import dependencies
from notify_bindings.dal.bindings.items import binding_from
from notify_bindings.domain.bindings import Binding, BindingType
from notify_bindings.domain.services import Service
from tests.factories import put_binding
from tests.invariants import assert_service_consistent
from tests.streams.conftest import Bus

FUNCTION = "PublishChangesFunction"
CLEAN_UP = "ForgetExpiredFunction"
EVENT = json.loads((PROJECT_ROOT / "events" / "publish_changes.json").read_text())
INSERT, REFRESH, EXPIRY = EVENT["Records"]
CLEAN_UP_EVENT = json.loads((PROJECT_ROOT / "events" / "forget_expired.json").read_text())
OTHER = "BS019bc10827550000000000000000beef"


@pytest.fixture
def expired(functions) -> Binding:
    """The store as DynamoDB's TTL leaves it: the binding of the event's TTL record, its
    address item gone, everything else of it still there, beside another of its identity."""
    old = binding_from(EXPIRY["dynamodb"]["OldImage"])
    services = dependencies.service_store()
    settings = dependencies.settings()
    # What an earlier test left, if anything, goes first.
    while not dependencies.binding_store().purge_some(old.service_sid):
        pass
    dependencies.dynamodb().delete_item(
        TableName=settings.services_table,
        Key={"AccountSid": {"S": old.account_sid}, "Sid": {"S": old.service_sid}},
    )
    now = dependencies.now()
    services.create(Service(old.service_sid, old.account_sid, now, now))
    store = dependencies.binding_store()
    put_binding(store, old)
    other = Binding(
        sid=OTHER,
        account_sid=old.account_sid,
        service_sid=old.service_sid,
        identity=old.identity,
        binding_type=BindingType.APN,
        address="another-device",
        tags=("premium",),
        credential_sid=None,
        notification_protocol_version="3",
        date_created=datetime.fromisoformat("2026-01-15T09:41:35.701+00:00"),
    )
    put_binding(store, other)
    dependencies.dynamodb().delete_item(
        TableName=settings.bindings_table, Key=EXPIRY["dynamodb"]["Keys"]
    )
    return old


def audit(service_sid: str) -> Any:
    settings = dependencies.settings()
    return assert_service_consistent(
        dependencies.dynamodb(), settings.bindings_table, settings.binding_index_table, service_sid
    )


def test_given_the_recorded_stream_batch_when_published_then_the_create_and_the_expiry_go_out_and_the_index_is_left_to_the_clean_up(  # noqa: E501
    functions, expired, tap
):
    bus = Bus(tap)

    assert functions.invoke(FUNCTION, EVENT) == {"batchItemFailures": []}

    events = bus.events(expired.service_sid)
    assert [(e["detail-type"], e["detail"]["binding_sid"]) for e in events] == [
        ("Binding Created", INSERT["dynamodb"]["NewImage"]["Sid"]["S"]),
        ("Binding Expired", expired.sid),
    ]
    assert events[1]["detail"]["event_id"] == EXPIRY["eventID"]
    assert events[1]["detail"]["sequence"] == EXPIRY["dynamodb"]["SequenceNumber"]
    assert events[1]["detail"]["identity"] == "alice"
    assert EXPIRY["dynamodb"]["Keys"]["Address"]["S"] not in json.dumps(events)
    left = audit(expired.service_sid)
    assert left.expired_indexed == {expired.sid}  # the clean-up's, not the publisher's
    assert left.sids_by_identity == {"alice": (OTHER,)}


def test_given_the_recorded_stream_batch_when_delivered_again_then_the_same_events_go(
    functions, expired, tap
):
    bus = Bus(tap)
    functions.invoke(FUNCTION, EVENT)
    first = bus.events(expired.service_sid)

    assert functions.invoke(FUNCTION, EVENT) == {"batchItemFailures": []}

    again = bus.events(expired.service_sid)
    assert [e["detail"] for e in again] == [e["detail"] for e in first]


def test_given_the_recorded_ttl_delete_when_cleaned_up_then_the_expired_binding_is_forgotten_and_its_identity_keeps_the_rest(  # noqa: E501
    functions, expired, tap
):
    bus = Bus(tap)

    assert functions.invoke(CLEAN_UP, CLEAN_UP_EVENT) == {"batchItemFailures": []}

    left = audit(expired.service_sid)
    assert left.expired_indexed == frozenset()
    assert left.sids_by_identity == {"alice": (OTHER,)}
    assert bus.events(expired.service_sid) == []  # it publishes nothing


def test_given_the_recorded_ttl_delete_when_cleaned_up_twice_then_nothing_is_forgotten_twice(
    functions, expired
):
    settings = dependencies.settings()
    record = {"pk": {"S": f"{expired.service_sid}#identity"}, "sk": {"S": "alice"}}
    functions.invoke(CLEAN_UP, CLEAN_UP_EVENT)

    assert functions.invoke(CLEAN_UP, CLEAN_UP_EVENT) == {"batchItemFailures": []}

    identity = dependencies.dynamodb().get_item(TableName=settings.binding_index_table, Key=record)
    assert identity["Item"]["BindingCount"] == {"N": "1"}  # not 0: the count went down once
    assert audit(expired.service_sid).sids_by_identity == {"alice": (OTHER,)}
