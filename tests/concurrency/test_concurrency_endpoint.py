"""The concurrency tests reach the embedded server over HTTP, even while moto's in-process mock
(the session `dynamodb` fixture of the other tests) is active."""

from __future__ import annotations

from typing import Any

from notify_bindings.models import BindingFilters
from tests.concurrency.conftest import SERVED_OVER_HTTP, RaceTables
from tests.factories import new_binding


def test_given_the_in_process_mock_is_active_when_the_store_writes_then_the_server_answers(
    dynamodb: Any, race_tables: RaceTables, race_service: str
) -> None:
    store = race_tables.store()
    before = race_tables.responses.served

    created = store.put(new_binding(race_service, "alice", "device-1")).binding
    fetched = store.get(race_service, created.sid)
    listed = store.list_page(race_service, BindingFilters(identities=("alice",)), None, 50)

    assert fetched == created
    assert listed.bindings == [created]
    # GetItem and TransactWriteItems for the create, GetItem, BatchGetItem: all over HTTP.
    assert race_tables.responses.served - before == 4
    assert race_tables.responses.elsewhere == []


def test_given_the_embedded_server_when_asked_directly_then_werkzeug_answers_on_loopback(
    dynamodb_endpoint: str, race_tables: RaceTables
) -> None:
    response = race_tables.client.describe_table(TableName=race_tables.index_table)

    assert dynamodb_endpoint.startswith("http://127.0.0.1:")
    assert SERVED_OVER_HTTP in response["ResponseMetadata"]["HTTPHeaders"]["server"]
