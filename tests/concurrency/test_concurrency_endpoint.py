"""The concurrency tests reach the embedded server over HTTP, even while moto's in-process mock
(the session `dynamodb` fixture of the other tests) is active."""

from __future__ import annotations

from typing import Any

from notify_bindings.domain.bindings import BindingFilters
from tests.concurrency.conftest import SERVED_OVER_HTTP, RaceTables
from tests.factories import new_binding, put_binding


def test_given_the_in_process_mock_is_active_when_the_store_writes_then_the_server_answers(
    dynamodb: Any, race_tables: RaceTables, race_service: str
) -> None:
    store, account = race_tables.store(), race_tables.account_sid
    before = race_tables.responses.served

    created = put_binding(store, new_binding(race_service, "alice", "device-1")).binding
    fetched = store.get(account, race_service, created.sid)
    listed = store.list_page(account, race_service, BindingFilters(identities=("alice",)), None, 50)

    assert fetched == created
    assert listed.items == [created]
    # BatchGetItem (the Service and the address) and TransactWriteItems for the create, a
    # BatchGetItem each for the fetch and the list: all over HTTP.
    assert race_tables.responses.served - before == 4
    assert race_tables.responses.elsewhere == []


def test_given_the_embedded_server_when_asked_directly_then_werkzeug_answers_on_loopback(
    dynamodb_endpoint: str, race_tables: RaceTables
) -> None:
    response = race_tables.client.describe_table(TableName=race_tables.index_table)

    assert dynamodb_endpoint.startswith("http://127.0.0.1:")
    assert SERVED_OVER_HTTP in response["ResponseMetadata"]["HTTPHeaders"]["server"]
