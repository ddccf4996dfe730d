"""The audit of tests/invariants.py: it passes on what the store writes, and it catches each kind
of damage the invariants forbid, so a clean audit in other tests means something."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from notify_bindings.dal.bindings.store import BindingStore
from notify_bindings.domain.bindings import MAX_BINDINGS_PER_IDENTITY, Binding, BindingType
from tests.conftest import Credentials, new_service
from tests.factories import new_binding, put_binding
from tests.invariants import InconsistentService, assert_service_consistent

BINDINGS = "BindingsTable"
INDEX = "BindingIndexTable"
SERVICES = "ServicesTable"


@pytest.fixture
def store(dynamodb: Any) -> BindingStore:
    return BindingStore(dynamodb, BINDINGS, INDEX, SERVICES)


@pytest.fixture
def add(store: BindingStore, account: Credentials) -> Callable[..., Binding]:
    """Create a binding through the store, as the test account: (service_sid, identity,
    address, **options) -> the binding stored."""

    def create(service_sid: str, identity: str, address: str, **options: Any) -> Binding:
        binding = new_binding(service_sid, identity, address, account_sid=account.sid, **options)
        return put_binding(store, binding).binding

    return create


def audit(dynamodb: Any, service_sid: str) -> Any:
    return assert_service_consistent(dynamodb, BINDINGS, INDEX, service_sid)


def assert_audit_finds(dynamodb: Any, service_sid: str, *fragments: str) -> None:
    with pytest.raises(InconsistentService) as caught:
        audit(dynamodb, service_sid)
    found = "\n".join(caught.value.problems)
    for fragment in fragments:
        assert fragment in found, found


def index_key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def identity_key(service_sid: str, identity: str) -> dict[str, Any]:
    return index_key(f"{service_sid}#identity", identity)


def get_index_item(dynamodb: Any, key: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(TableName=INDEX, Key=key, ConsistentRead=True)["Item"]
    return item


def write_by_hand(dynamodb: Any, binding: Binding) -> None:
    """Every item the store's layout asks for, written without the store and its checks."""
    attributes: dict[str, Any] = {
        "Sid": {"S": binding.sid},
        "AccountSid": {"S": binding.account_sid},
        "ServiceSid": {"S": binding.service_sid},
        "Identity": {"S": binding.identity},
        "BindingType": {"S": binding.binding_type.value},
        "Address": {"S": binding.address},
        "Tags": {"L": [{"S": tag} for tag in binding.tags]},
        "DateCreated": {"S": binding.date_created.isoformat(timespec="milliseconds")},
    }
    if binding.notification_protocol_version is not None:
        attributes["NotificationProtocolVersion"] = {"S": binding.notification_protocol_version}
    service = binding.service_sid
    dynamodb.put_item(
        TableName=BINDINGS,
        Item={**attributes, "ServiceIdentity": {"S": f"{service}#{binding.identity}"}},
    )
    dynamodb.put_item(TableName=INDEX, Item={**index_key(service, binding.sid), **attributes})
    tags = sorted(binding.index_tags())
    for size in range(1, len(tags) + 1):  # a handful of tags here: every combination
        for combination in itertools.combinations(tags, size):
            partition = (
                f"{service}#tag#{combination[0]}"
                if size == 1
                else f"{service}#tags#{json.dumps(list(combination), separators=(',', ':'))}"
            )
            dynamodb.put_item(
                TableName=INDEX, Item={**index_key(partition, binding.sid), **attributes}
            )
    dynamodb.update_item(
        TableName=INDEX,
        Key=identity_key(service, binding.identity),
        UpdateExpression="SET #sid = :copy ADD BindingCount :one",
        ExpressionAttributeNames={"#sid": binding.sid},
        ExpressionAttributeValues={":copy": {"M": attributes}, ":one": {"N": "1"}},
    )


@pytest.fixture
def alice_binding(add: Callable[..., Binding], service_sid: str) -> Binding:
    """A consistent Service: alice with a tagged push binding and an sms binding, bob with one."""
    binding = add(service_sid, "alice", "device-1", tags=("premium", "beta"))
    add(service_sid, "alice", "+15550000001", binding_type=BindingType.SMS)
    add(service_sid, "bob", "device-2", binding_type=BindingType.FCM)
    return binding


def test_given_bindings_created_replaced_and_deleted_by_the_store_when_audited_then_it_is_clean(
    dynamodb, store, add, account, service_sid
):
    kept = add(service_sid, "alice", "device-1", tags=("a", "all"))
    replaced = add(service_sid, "alice", "device-2")
    add(service_sid, "bob", "device-2", tags=("b",))  # moves to bob
    gone = add(service_sid, "carol", "+15550000002", binding_type=BindingType.SMS)
    store.delete(account.sid, service_sid, gone.sid)

    result = audit(dynamodb, service_sid)

    assert result.bindings_per_identity == {"alice": 1, "bob": 1}
    assert result.sids_by_identity["alice"] == (kept.sid,)
    assert replaced.sid not in result.sids
    assert set(result.sid_by_address) == {"device-1", "device-2"}


def test_given_an_empty_service_when_audited_then_it_holds_nothing(dynamodb, service_sid):
    result = audit(dynamodb, service_sid)

    assert result.bindings_per_identity == {}
    assert result.sids == frozenset()


def test_given_an_orphan_sid_item_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    item = get_index_item(dynamodb, index_key(service_sid, alice_binding.sid))
    orphan_sid = alice_binding.sid[:-4] + "0000"
    dynamodb.put_item(
        TableName=INDEX, Item={**item, "sk": {"S": orphan_sid}, "Sid": {"S": orphan_sid}}
    )

    assert_audit_finds(dynamodb, service_sid, f"SID item {orphan_sid}: orphan")


def test_given_an_orphan_tag_item_when_audited_then_the_audit_fails(
    dynamodb, store, account, service_sid, alice_binding
):
    item = get_index_item(dynamodb, index_key(f"{service_sid}#tag#premium", alice_binding.sid))
    store.delete(account.sid, service_sid, alice_binding.sid)
    dynamodb.put_item(TableName=INDEX, Item=item)

    assert_audit_finds(dynamodb, service_sid, f"tag item 'premium' of {alice_binding.sid}: orphan")


def test_given_a_wrong_binding_count_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    dynamodb.update_item(
        TableName=INDEX,
        Key=identity_key(service_sid, "alice"),
        UpdateExpression="SET BindingCount = :three",
        ExpressionAttributeValues={":three": {"N": "3"}},
    )

    assert_audit_finds(
        dynamodb,
        service_sid,
        "identity 'alice': BindingCount 3 but 2 binding copies",
    )


def test_given_a_missing_tag_item_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    dynamodb.delete_item(
        TableName=INDEX, Key=index_key(f"{service_sid}#tag#apn", alice_binding.sid)
    )

    assert_audit_finds(dynamodb, service_sid, f"binding {alice_binding.sid}: no tag item for 'apn'")


def test_given_a_tag_item_the_binding_does_not_name_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    item = get_index_item(dynamodb, index_key(service_sid, alice_binding.sid))
    dynamodb.put_item(TableName=INDEX, Item={**item, "pk": {"S": f"{service_sid}#tag#vip"}})

    assert_audit_finds(dynamodb, service_sid, "tag item 'vip' that its tags do not name")


def test_given_an_address_item_without_its_sid_item_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    dynamodb.delete_item(TableName=INDEX, Key=index_key(service_sid, alice_binding.sid))

    assert_audit_finds(dynamodb, service_sid, f"binding {alice_binding.sid}: no SID item")


def test_given_a_sid_item_that_differs_from_its_address_item_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    dynamodb.update_item(
        TableName=INDEX,
        Key=index_key(service_sid, alice_binding.sid),
        UpdateExpression="SET Tags = :tags",
        ExpressionAttributeValues={":tags": {"L": [{"S": "premium"}]}},
    )

    assert_audit_finds(dynamodb, service_sid, f"SID item {alice_binding.sid}: Tags is")


def test_given_a_second_address_item_for_one_sid_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    item = dynamodb.get_item(
        TableName=BINDINGS,
        Key={"ServiceSid": {"S": service_sid}, "Address": {"S": "device-1"}},
        ConsistentRead=True,
    )["Item"]
    dynamodb.put_item(TableName=BINDINGS, Item={**item, "Address": {"S": "device-9"}})

    assert_audit_finds(dynamodb, service_sid, f"SID {alice_binding.sid} held by two address items")


def test_given_an_identity_copy_that_differs_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    dynamodb.update_item(
        TableName=INDEX,
        Key=identity_key(service_sid, "alice"),
        UpdateExpression="SET #sid.Address = :other",
        ExpressionAttributeNames={"#sid": alice_binding.sid},
        ExpressionAttributeValues={":other": {"S": "device-9"}},
    )

    assert_audit_finds(dynamodb, service_sid, f"identity 'alice': copy of {alice_binding.sid}")


def test_given_an_identity_record_missing_a_copy_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    dynamodb.update_item(
        TableName=INDEX,
        Key=identity_key(service_sid, "alice"),
        UpdateExpression="REMOVE #sid",
        ExpressionAttributeNames={"#sid": alice_binding.sid},
    )

    assert_audit_finds(
        dynamodb, service_sid, f"identity 'alice': no copy of its binding {alice_binding.sid}"
    )


def test_given_an_identitys_last_binding_deleted_when_audited_then_its_emptied_record_is_none(
    dynamodb, store, account, service_sid, alice_binding
):
    record = get_index_item(dynamodb, identity_key(service_sid, "bob"))
    for name in [name for name in record if name.startswith("BS")]:
        store.delete(account.sid, service_sid, name)

    result = audit(dynamodb, service_sid)

    emptied = get_index_item(dynamodb, identity_key(service_sid, "bob"))
    assert emptied == {**identity_key(service_sid, "bob"), "BindingCount": {"N": "0"}}
    assert result.bindings_per_identity == {"alice": 2}


def test_given_an_emptied_identity_record_that_still_holds_a_copy_when_audited_then_it_fails(
    dynamodb, store, account, service_sid, alice_binding
):
    record = get_index_item(dynamodb, identity_key(service_sid, "bob"))
    (sid,) = [name for name in record if name.startswith("BS")]
    store.delete(account.sid, service_sid, sid)
    dynamodb.put_item(TableName=INDEX, Item={**record, "BindingCount": {"N": "0"}})

    assert_audit_finds(
        dynamodb,
        service_sid,
        "identity 'bob': BindingCount 0 but 1 binding copies",
        f"identity 'bob': copy of {sid}: orphan, no address item holds this SID",
    )


def test_given_an_identity_record_with_a_count_but_no_copies_when_audited_then_it_fails(
    dynamodb, store, account, service_sid, alice_binding
):
    record = get_index_item(dynamodb, identity_key(service_sid, "bob"))
    for name in [name for name in record if name.startswith("BS")]:
        store.delete(account.sid, service_sid, name)
    dynamodb.put_item(
        TableName=INDEX, Item={**identity_key(service_sid, "bob"), "BindingCount": {"N": "1"}}
    )

    assert_audit_finds(dynamodb, service_sid, "identity 'bob': BindingCount 1 but 0 binding copies")


def test_given_bindings_without_an_identity_record_when_audited_then_the_audit_fails(
    dynamodb, service_sid, alice_binding
):
    dynamodb.delete_item(TableName=INDEX, Key=identity_key(service_sid, "bob"))

    assert_audit_finds(dynamodb, service_sid, "identity 'bob': 1 binding(s) but no identity record")


def test_given_the_limit_of_bindings_written_by_hand_when_audited_then_it_is_clean(
    dynamodb, service_sid
):
    for number in range(MAX_BINDINGS_PER_IDENTITY):
        write_by_hand(dynamodb, new_binding(service_sid, "alice", f"device-{number}", tags=("t",)))

    result = audit(dynamodb, service_sid)

    assert result.bindings_per_identity == {"alice": MAX_BINDINGS_PER_IDENTITY}


def test_given_one_binding_beyond_the_limit_when_audited_then_the_audit_fails(
    dynamodb, service_sid
):
    for number in range(MAX_BINDINGS_PER_IDENTITY + 1):
        write_by_hand(dynamodb, new_binding(service_sid, "alice", f"device-{number}"))

    assert_audit_finds(dynamodb, service_sid, "identity 'alice': 21 bindings, above 20")


def test_given_damage_in_another_service_when_audited_then_only_that_service_fails(
    dynamodb, account, service_sid, alice_binding
):
    other = new_service(account.sid)
    write_by_hand(dynamodb, new_binding(other, "alice", "device-1", account_sid=account.sid))
    dynamodb.delete_item(TableName=INDEX, Key=identity_key(other, "alice"))

    assert audit(dynamodb, service_sid).bindings_per_identity == {"alice": 2, "bob": 1}
    assert_audit_finds(dynamodb, other, "identity 'alice': 1 binding(s) but no identity record")
