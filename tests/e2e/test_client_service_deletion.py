"""Deleting a Service with hundreds of bindings: 204 at once, the Service and its bindings 404
at once, and every item of the Service purged from the tables in the background, a page of
bindings at a time, through the SQS queue the delete hands the work to."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException

from tests.e2e.support import Credentials, client_for, delete_quietly

THROUGH_THE_API = 30  # bindings created with the client
COPIES = 9  # of each of them written straight to the tables: 300 bindings in all
PURGE_SECONDS = 60
POLL_SECONDS = 0.5


def items_mentioning(dynamodb: Any, text: str) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table with `text` anywhere in it, by table."""
    found: dict[str, list[dict[str, Any]]] = {}
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            matching = [item for item in page["Items"] if text in repr(item)]
            if matching:
                found.setdefault(table, []).extend(matching)
    return found


def replace_all(text: str, replacements: dict[str, str]) -> str:
    """`text` with each key of `replacements` replaced by its value, in one pass."""
    pattern = re.compile("|".join(re.escape(old) for old in replacements))
    return pattern.sub(lambda match: replacements[match[0]], text)


def copy_bindings(dynamodb: Any, service_sid: str, copies: int) -> list[str]:
    """Write `copies` copies of every binding of the Service, each under a new SID, address
    and identity, straight to the tables; returns the new SIDs.

    The embedded DynamoDB copies whole tables for each transaction, which makes creating
    hundreds of bindings through the API take minutes. So bindings made through the API are
    copied instead: every item that names one of them (the binding, its index entries, its
    identity's record: whatever the store writes) is written again with each binding's SID,
    address and identity replaced, whatever the layout.
    """
    items = [
        (table, json.dumps(item))
        for table, found in items_mentioning(dynamodb, service_sid).items()
        for item in found
    ]
    text = "".join(item for _, item in items)
    originals = sorted(set(re.findall(r"BS[0-9a-f]{32}", text)))
    tokens = sorted(set(re.findall(r"purge-(?:user|token)-\d{3}", text)))
    new_sids: list[str] = []
    for copy in range(copies):
        renamed = {sid: "BS" + sid[2:22] + secrets.token_hex(6) for sid in originals}
        renamed.update({token: f"{token}-copy-{copy:02d}" for token in tokens})
        writes = [
            (table, json.loads(replaced))
            for table, item in items
            if (replaced := replace_all(item, renamed)) != item  # not the Service's own item
        ]
        for start in range(0, len(writes), 25):
            requests: dict[str, list[Any]] = {}
            for table, item in writes[start : start + 25]:
                requests.setdefault(table, []).append({"PutRequest": {"Item": item}})
            while requests:
                requests = dynamodb.batch_write_item(RequestItems=requests)["UnprocessedItems"]
        new_sids += [renamed[sid] for sid in originals]
    return new_sids


@pytest.fixture
def doomed(
    local_api, account: Credentials, twilio_client, dynamodb
) -> Iterator[tuple[str, list[str]]]:
    """A Service with 300 bindings of 100 identities, of three push types, most with a tag:
    its SID and its bindings' SIDs."""
    service_sid = twilio_client.notify.v1.services.create(friendly_name="doomed").sid

    def create(numbers: range) -> list[str]:
        bindings = client_for(local_api.url, account).notify.v1.services(service_sid).bindings
        return [
            bindings.create(
                identity=f"purge-user-{number % 10:03d}",
                binding_type=("apn", "fcm", "gcm")[number % 3],
                address=f"purge-token-{number:03d}",
                tag=[f"tag-{number % 4}"] if number % 5 else [],
            ).sid
            for number in numbers
        ]

    with ThreadPoolExecutor(max_workers=3) as pool:
        chunks = pool.map(create, [range(start, THROUGH_THE_API, 3) for start in range(3)])
        created = [sid for chunk in chunks for sid in chunk]
    copied = copy_bindings(dynamodb, service_sid, COPIES)
    yield service_sid, created + copied
    delete_quietly(twilio_client, service_sid)  # when the test failed before deleting it


def test_given_a_service_with_300_bindings_when_deleted_then_404_at_once_and_purged_soon(
    twilio_client, dynamodb, doomed, another_service_sid
):
    service_sid, binding_sids = doomed
    services = twilio_client.notify.v1.services
    bindings = services(service_sid).bindings
    # Before: 300 distinct bindings that the API serves, and a neighbour the purge must spare.
    assert len(binding_sids) == len(set(binding_sids)) == 300
    assert sorted(binding.sid for binding in bindings.list(page_size=1000)) == sorted(binding_sids)
    last_copy = bindings(binding_sids[-1]).fetch()
    assert last_copy.identity.endswith("-copy-08")
    assert last_copy.address.endswith("-copy-08")
    assert len(bindings.list(identity=["purge-user-003-copy-04"])) == 3
    assert len(bindings.list(tag=["tag-1"], page_size=1000)) == 60
    stored = items_mentioning(dynamodb, service_sid)
    assert set(stored) == {"BindingsTable", "BindingIndexTable", "ServicesTable"}
    assert len(stored["BindingsTable"]) == 300  # one item per address
    neighbour = services(another_service_sid).bindings
    spared = neighbour.create(
        identity="purge-user-000", binding_type="apn", address="purge-token-000"
    )

    started = time.monotonic()
    assert services(service_sid).delete() is True
    assert time.monotonic() - started < 5  # the purge is not done in the request

    # At once: the Service and every way to its bindings are 404.
    with pytest.raises(TwilioRestException) as caught:
        services(service_sid).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)
    for sid in binding_sids[:: len(binding_sids) // 15]:
        with pytest.raises(TwilioRestException) as caught:
            bindings(sid).fetch()
        assert (caught.value.status, caught.value.code) == (404, 20404)
    with pytest.raises(TwilioException) as listing:
        bindings.list()
    assert listing.value.args[1].status_code == 404
    with pytest.raises(TwilioRestException) as caught:
        bindings.create(identity="late", binding_type="apn", address="purge-token-late")
    assert (caught.value.status, caught.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as caught:
        bindings(binding_sids[0]).delete()
    assert (caught.value.status, caught.value.code) == (404, 20404)

    # Soon: nothing of the Service is left in any table.
    deadline = time.monotonic() + PURGE_SECONDS
    left = items_mentioning(dynamodb, service_sid)
    while left and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        left = items_mentioning(dynamodb, service_sid)
    assert left == {}, {table: len(items) for table, items in left.items()}

    # And nothing of its neighbour went with it.
    assert [binding.sid for binding in neighbour.list()] == [spared.sid]
    assert services(another_service_sid).fetch().sid == another_service_sid
