"""The items that hold bindings, built and read without DynamoDB: keys, partitions, the tag
index's items and the conversions both ways (dal/bindings/items.py)."""

from __future__ import annotations

import json

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
from notify_bindings.domain.bindings import (
    MAX_ADDRESS_BYTES,
    MAX_IDENTITY_BYTES,
    MAX_TAG_BYTES,
    BindingType,
    Removal,
)
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


# DynamoDB's limits on a key attribute, in UTF-8 bytes.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024


def _fill(limit_bytes: int, limit_characters: int, last: str) -> str:
    """Text of `limit_characters` characters as close to `limit_bytes` as 4-byte ones get."""
    text = "😀" * (min(limit_bytes // 4, limit_characters) - 1) + last
    return text + "a" * min(limit_bytes - len(text.encode()), limit_characters - len(text))


def _largest_tags(count: int) -> list[str]:
    """`count` distinct tags as long as the limits let them be, as JSON escapes them most."""
    emoji = [_fill(MAX_TAG_BYTES, 64, chr(0x1F600 + n)) for n in range(count)]
    quotes = ['"' * 63 + str(n) for n in range(count)]  # each " is two bytes in JSON
    return emoji if len(json.dumps(emoji)) >= len(json.dumps(quotes)) else quotes


def test_given_a_binding_at_every_byte_limit_then_each_of_its_keys_fits_dynamodb():
    """The byte limits of identities, tags and addresses (domain/bindings.py) are what make
    every key items.py composes of them fit: the address is the bindings table's sort key, the
    identity its index's partition key (after the Service SID) and the identity record's sort
    key, the tags the partition keys of their combinations, and lists filter by five."""
    assert MAX_ADDRESS_BYTES == MAX_SORT_KEY_BYTES
    assert MAX_IDENTITY_BYTES == MAX_SORT_KEY_BYTES
    binding = sample_binding(
        identity=_fill(MAX_IDENTITY_BYTES, 256, "😀"),
        address=_fill(MAX_ADDRESS_BYTES, 512, "😀"),
        tags=tuple(_largest_tags(MAX_COMBINED_TAGS - 1)),
        binding_type=BindingType.FACEBOOK_MESSENGER,
    )
    assert len(binding.identity.encode()) == MAX_IDENTITY_BYTES
    assert len(binding.address.encode()) == MAX_ADDRESS_BYTES
    assert all(len(tag.encode()) <= MAX_TAG_BYTES for tag in binding.tags)
    item = address_item(binding)
    keys = [
        (item["ServiceSid"]["S"], item["Address"]["S"]),
        (item["ServiceIdentity"]["S"], item["Sid"]["S"]),
        *[(key["pk"]["S"], key["sk"]["S"]) for key in index_keys(binding)],
        *[(key["pk"]["S"], key["sk"]["S"]) for key in [identity_key(SERVICE, binding.identity)]],
        (tags_partition(SERVICE, sorted(_largest_tags(MAX_COMBINED_TAGS))), "BS" + "0" * 32),
    ]

    assert len(keys) == 2 + 2**MAX_COMBINED_TAGS + 2
    for partition, sort in keys:
        assert len(partition.encode()) <= MAX_PARTITION_KEY_BYTES
        assert len(sort.encode()) <= MAX_SORT_KEY_BYTES
