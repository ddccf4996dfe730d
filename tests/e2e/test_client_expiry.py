"""Exact expiry through `make run`'s local API and the official twilio client: with the local
imitation of DynamoDB's TTL slowed to an hour, an expired binding is still gone to every read
at once - expiry is the store's, not the sweeper's - and `notify-migrate export` leaves it out.

The binding is made to have expired by writing its expiry (on every item of it, as the store
keeps it) into the local API's tables directly: the local API's clock is its machine's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from local_api.runtime import dynamodb_client
from tests.e2e.support import LocalApi, client_for, running_local_api
from tests.migrate.test_migrate_end_to_end import cli, read_records


@pytest.fixture(scope="module")
def slow_ttl() -> Iterator[LocalApi]:
    with running_local_api(TTL_SWEEP_SECONDS="3600") as api:
        yield api


def expire(dynamodb: Any, service_sid: str, sid: str, address: str, identity: str) -> None:
    """Move the binding's expiry to an hour ago, on its address item, its index items and its
    copy in its identity record."""
    past = {":past": {"N": str(int(time.time()) - 3600)}}
    dynamodb.update_item(
        TableName="BindingsTable",
        Key={"ServiceSid": {"S": service_sid}, "Address": {"S": address}},
        UpdateExpression="SET ExpiresAt = :past",
        ExpressionAttributeValues=past,
    )
    index = dynamodb.scan(
        TableName="BindingIndexTable",
        FilterExpression="sk = :sid",
        ExpressionAttributeValues={":sid": {"S": sid}},
    )["Items"]
    assert len(index) >= 3  # its SID item and two tag items at least
    for item in index:
        dynamodb.update_item(
            TableName="BindingIndexTable",
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET ExpiresAt = :past",
            ExpressionAttributeValues=past,
        )
    dynamodb.update_item(
        TableName="BindingIndexTable",
        Key={"pk": {"S": f"{service_sid}#identity"}, "sk": {"S": identity}},
        UpdateExpression="SET #sid.ExpiresAt = :past",
        ExpressionAttributeNames={"#sid": sid},
        ExpressionAttributeValues=past,
    )


def test_given_the_ttl_sweeper_slowed_when_a_binding_expires_then_the_client_sees_it_gone_at_once_and_export_leaves_it_out(  # noqa: E501
    slow_ttl, tmp_path
):
    client = client_for(slow_ttl.url, slow_ttl.account)
    dynamodb = dynamodb_client(slow_ttl.dynamodb_url)
    account = (slow_ttl.account.username, slow_ttl.account.password)
    service = client.notify.v1.services.create(friendly_name="expiry")
    service_url = f"{slow_ttl.url}/v1/Services/{service.sid}"
    with requests.Session() as http:
        http.trust_env = False
        updated = http.post(service_url, data={"BindingTtlDays": "30"}, auth=account, timeout=30)
        assert updated.status_code == 200, updated.text
        bindings = client.notify.v1.services(service.sid).bindings
        lapsing = bindings.create(
            identity="ana", binding_type="fcm", address="lapsing", tag=["news"]
        )
        kept = bindings.create(identity="ana", binding_type="fcm", address="kept", tag=["news"])

        expire(dynamodb, service.sid, lapsing.sid, "lapsing", "ana")

        with pytest.raises(TwilioRestException) as fetched:
            bindings(lapsing.sid).fetch()
        assert fetched.value.status == 404
        assert [b.sid for b in bindings.list()] == [kept.sid]
        assert [b.sid for b in bindings.list(tag=["news"])] == [kept.sid]
        assert [b.sid for b in bindings.list(identity=["ana"])] == [kept.sid]
        user = http.get(f"{service_url}/Users/ana", auth=account, timeout=30)
        assert user.json()["binding_count"] == 1
    exported = tmp_path / "bindings.jsonl"
    environment = {
        "NOTIFY_ACCOUNT_SID": slow_ttl.account.username,
        "NOTIFY_AUTH_TOKEN": slow_ttl.account.password,
    }
    finished = cli(
        "export",
        *("--url", slow_ttl.url, "--service", service.sid, "-o", str(exported)),
        environment=environment,
    )
    assert finished.returncode == 0, finished.stderr
    assert [record["address"] for record in read_records(exported)] == ["kept"]
    # Nothing was deleted meanwhile: expiry itself hid it, not the local imitation of TTL.
    held = dynamodb.get_item(
        TableName="BindingsTable",
        Key={"ServiceSid": {"S": service.sid}, "Address": {"S": "lapsing"}},
    )
    assert held["Item"]["Sid"]["S"] == lapsing.sid
