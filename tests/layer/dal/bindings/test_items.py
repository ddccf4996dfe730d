"""The items that hold bindings, built and read without DynamoDB: keys, partitions, the tag
index's items and the conversions both ways (dal/bindings/items.py)."""

from __future__ import annotations

import pytest

from notify_bindings.dal.bindings.items import (
    MAX_COMBINED_TAGS,
    REMOVAL_RECORD_SECONDS,
    address_item,
    binding_from,
    bindings_in_record,
    has_many_tags,
    holds,
    identity_key,
    index_keys,
    removal_item,
    tag_filter,
    tags_partition,
    user_from,
)
from notify_bindings.domain.bindings import BindingType, Removal
from tests.factories import sample_binding

SERVICE = "IS" + "3" * 32


@pytest.mark.parametrize(
    "subject",
    [
        sample_binding(),
        sample_binding(binding_type=BindingType.SMS, notification_protocol_version=None, tags=()),
        sample_binding(credential_sid="CR" + "4" * 32, expires_at=1_900_000_000, identity="zoë"),
    ],
)
def test_given_a_binding_when_written_as_an_item_and_read_back_then_it_is_the_same(subject):
    item = address_item(subject)

    assert binding_from(item) == subject
    assert item["ServiceIdentity"] == {"S": f"{SERVICE}#{subject.identity}"}
    assert ("ExpiresAt" in item) == (subject.expires_at is not None)


@pytest.mark.parametrize("count", range(MAX_COMBINED_TAGS))
def test_given_k_index_tags_then_a_sid_item_and_every_combination_of_them(count):
    # The binding type is an index tag too: `count` tags and apn make count + 1.
    subject = sample_binding(tags=tuple(f"t{n}" for n in range(count)))
    k = count + 1

    keys = index_keys(subject)

    assert keys[0] == {"pk": {"S": SERVICE}, "sk": {"S": subject.sid}}
    assert len(keys) == 1 + 2**k - 1
    assert len({key["pk"]["S"] for key in keys}) == len(keys)
    assert not has_many_tags(subject)


def test_given_more_index_tags_than_combine_then_single_tag_items_and_the_many_tags_item():
    subject = sample_binding(tags=tuple(f"t{n}" for n in range(MAX_COMBINED_TAGS)))  # and apn

    partitions = [key["pk"]["S"] for key in index_keys(subject)]

    assert has_many_tags(subject) == 1
    assert partitions[0] == SERVICE
    assert partitions[-1] == f"{SERVICE}#many-tags"
    assert len(partitions) == 1 + MAX_COMBINED_TAGS + 1 + 1


def test_given_tags_then_their_partition_names_them_sorted_and_unambiguous():
    assert tags_partition(SERVICE, []) == SERVICE
    assert tags_partition(SERVICE, ["vip"]) == f"{SERVICE}#tag#vip"
    assert tags_partition(SERVICE, ["a", 'b","c']) == f'{SERVICE}#tags#["a","b\\",\\"c"]'
    assert tags_partition(SERVICE, ["a,b"]) != tags_partition(SERVICE, ["a", "b"])


def test_given_an_identity_record_then_its_user_has_its_live_bindings_in_creation_order():
    older, newer = sample_binding(sid="BS" + "0" * 32), sample_binding(sid="BS" + "5" * 32)
    expired = sample_binding(sid="BS" + "2" * 32, expires_at=1_000)
    record = {
        **identity_key(SERVICE, "alice"),
        "BindingCount": {"N": "3"},
        **{b.sid: {"M": address_item(b)} for b in (newer, expired, older)},
    }

    user = user_from("AC" + "2" * 32, SERVICE, [record], now=2_000)

    assert sorted(b.sid for b in bindings_in_record(record)) == [older.sid, expired.sid, newer.sid]
    assert user is not None
    assert (user.identity, user.bindings) == ("alice", (older, newer))
    only_expired = {**identity_key(SERVICE, "bob"), expired.sid: {"M": address_item(expired)}}
    assert user_from("AC" + "2" * 32, SERVICE, [only_expired], now=2_000) is None
    assert user_from("AC" + "2" * 32, SERVICE, [], now=0) is None


def test_given_a_removal_then_its_item_names_the_cause_and_outlives_the_stream_record():
    item = removal_item(sample_binding(), Removal.DEAD_ADDRESS, "unregistered", now=1_000.9)
    plain = removal_item(sample_binding(), Removal.DELETED, None, now=1_000)

    assert item["pk"] == {"S": f"{SERVICE}#removed"}
    assert item["Removal"] == {"S": "dead_address"}
    assert item["Detail"] == {"S": "unregistered"}
    assert item["RemoveAfter"] == {"N": str(1_000 + REMOVAL_RECORD_SECONDS)}
    assert "Detail" not in plain


def test_given_what_was_read_then_a_write_is_conditioned_on_it_still_being_there():
    assert holds(None) == {"ConditionExpression": "attribute_not_exists(Address)"}
    assert holds(sample_binding())["ExpressionAttributeValues"] == {":sid": {"S": "BS" + "1" * 32}}


def test_given_tags_with_a_binding_type_then_the_filter_also_matches_the_type():
    values: dict[str, object] = {}

    expression = tag_filter(["sms", "vip"], values)  # type: ignore[arg-type]

    assert expression == (
        "(contains(Tags, :tag0) OR BindingType = :tag0) AND contains(Tags, :tag1)"
    )
    assert values == {":tag0": {"S": "sms"}, ":tag1": {"S": "vip"}}
    assert tag_filter([], {}) is None
