"""The concurrency tests' DynamoDB: the local API's embedded moto server, a real HTTP endpoint on
127.0.0.1 answering from its own threads, with fresh tables for every test.

Not moto's in-process `mock_aws()`, which runs the backend inside each calling thread: these
tests race requests against a server, as the functions race against DynamoDB. The session
`dynamodb` fixture of other tests may have started the mock; it intercepts requests to AWS
host names only, never to 127.0.0.1 (it does share moto's in-memory backend with the server,
hence a table prefix per test). Every response is checked to have come from the embedded
server, so no test here can pass on the mock.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_api.runtime import (
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    create_tables,
    dynamodb_client,
    embedded_dynamodb,
)
from local_api.template import SamTemplate
from notify_bindings import dependencies
from notify_bindings.dal.bindings.store import BindingStore
from tests.concurrency.racing import WORKERS
from tests.factories import ACCOUNT_SID, create_service
from tests.invariants import ServiceAudit, assert_service_consistent

# The embedded server answers through werkzeug; moto's in-process mock sends no such header.
SERVED_OVER_HTTP = "Werkzeug"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    with embedded_dynamodb() as endpoint:
        assert endpoint.startswith("http://127.0.0.1:")
        yield endpoint


class ResponsesFromServer:
    """Counts responses to the tests' client, and those that did not come from the server."""

    def __init__(self) -> None:
        self.served = 0
        self.elsewhere: list[str] = []

    def __call__(self, http_response: Any, model: Any, **_: Any) -> None:
        if SERVED_OVER_HTTP in http_response.headers.get("server", ""):
            self.served += 1
        else:
            self.elsewhere.append(model.name)


@dataclass
class RaceTables:
    client: Any
    bindings_table: str
    index_table: str
    services_table: str
    responses: ResponsesFromServer
    account_sid: str = ACCOUNT_SID  # whose Services the races run in

    def store(self) -> BindingStore:
        return BindingStore(self.client, self.bindings_table, self.index_table, self.services_table)

    def audit(self, service_sid: str) -> ServiceAudit:
        return assert_service_consistent(
            self.client, self.bindings_table, self.index_table, service_sid
        )


@pytest.fixture
def race_tables(dynamodb_endpoint: str, template: SamTemplate) -> Iterator[RaceTables]:
    """The template's tables under a prefix of this test's own, and one client for all threads."""
    names = create_tables(
        dynamodb_client(dynamodb_endpoint), template, prefix=f"race-{secrets.token_hex(4)}-"
    )
    client = boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        # One connection per thread; the retries of the functions' own clients.
        config=Config(max_pool_connections=2 * WORKERS, retries=dependencies.CLIENT_RETRIES),
    )
    responses = ResponsesFromServer()
    client.meta.events.register("after-call.dynamodb", responses)
    yield RaceTables(
        client,
        names["BindingsTable"],
        names["BindingIndexTable"],
        names["ServicesTable"],
        responses,
    )
    for name in names.values():
        client.delete_table(TableName=name)
    assert responses.served > 0
    assert responses.elsewhere == [], "answered by something else than the embedded server"


@pytest.fixture
def race_service(race_tables: RaceTables) -> str:
    """A live Service of the races' account: the store works only in one."""
    return create_service(race_tables.client, race_tables.services_table, race_tables.account_sid)
