"""End-to-end fixtures: the local API that `make run` serves, started once per session as a
subprocess with two development accounts of the session's own, the official twilio client
pointed at it with the first account's credentials, and a Service of each test's own,
created through that client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local_api.runtime import dynamodb_client
from tests.e2e.delivering import Receiver
from tests.e2e.support import (
    Admin,
    Credentials,
    LocalApi,
    StandIns,
    client_for,
    delete_quietly,
    running_local_api,
)


@pytest.fixture(scope="session")
def local_api() -> Iterator[LocalApi]:
    """The session's server. It checks credentials on every request (AUTH_CACHE_SECONDS=0),
    so that a revoked key or a rotated-away token is refused at once. Its delivering function
    sends one recipient after another (DELIVERY_SENDS_IN_FLIGHT=1): the fault tests replay
    the stand-ins' seeded draws in the order of the requests."""
    with running_local_api(AUTH_CACHE_SECONDS="0", DELIVERY_SENDS_IN_FLIGHT="1") as api:
        yield api


@pytest.fixture(scope="session")
def local_api_url(local_api: LocalApi) -> str:
    return local_api.url


@pytest.fixture(scope="session")
def account(local_api: LocalApi) -> Credentials:
    """The first development account: the one `twilio_client` acts as."""
    return local_api.account


@pytest.fixture(scope="session")
def other_account(local_api: LocalApi) -> Credentials:
    """The second development account: a tenant the first must be isolated from."""
    return local_api.other_account


@pytest.fixture(scope="session")
def twilio_client(local_api: LocalApi, account: Credentials) -> Any:
    return client_for(local_api.url, account)


@pytest.fixture(scope="session")
def other_client(local_api: LocalApi, other_account: Credentials) -> Any:
    return client_for(local_api.url, other_account)


@pytest.fixture
def service_sid(twilio_client: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A Service of the test's own, so that tests share the server but not data.

    It is deleted afterwards (unless the test did that), which purges its bindings: the
    session's tables then hold only what the running tests use, and the local API's TTL
    sweeps, which scan them, stay as quick as its first.
    """
    name = f"e2e {request.node.name}"[:64]
    sid = str(twilio_client.notify.v1.services.create(friendly_name=name).sid)
    yield sid
    delete_quietly(twilio_client, sid)


@pytest.fixture
def another_service_sid(twilio_client: Any) -> Iterator[str]:
    """A second Service of the same account."""
    sid = str(twilio_client.notify.v1.services.create(friendly_name="e2e another").sid)
    yield sid
    delete_quietly(twilio_client, sid)


@pytest.fixture
def bindings(twilio_client: Any, service_sid: str) -> Any:
    """The client's `BindingList` of the test's Service."""
    return twilio_client.notify.v1.services(service_sid).bindings


@pytest.fixture(scope="session")
def raw_http() -> Iterator[requests.Session]:
    """Plain HTTP, for what the client cannot send (no credentials, say); never via a proxy."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture(scope="session")
def dynamodb(local_api: LocalApi) -> Any:
    """A DynamoDB client of the local API's endpoint, to look at what the tables hold."""
    return dynamodb_client(local_api.dynamodb_url)


@pytest.fixture(scope="session")
def admin(local_api: LocalApi) -> Admin:
    """The admin CLI, aimed at the session's server."""
    return Admin(local_api.dynamodb_url)


@pytest.fixture(scope="session")
def standins(local_api: LocalApi) -> StandIns:
    """The delivery stand-ins of the session's server."""
    assert local_api.standins is not None, "the local API did not announce its stand-ins"
    return local_api.standins


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver of delivery callbacks on loopback, of the test's own."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def credentials(twilio_client: Any) -> dict[str, str]:
    """A Credential of the account of each type, made through the official client: the SIDs
    that its Services and bindings may name, by type."""
    from tests.providers.material import credential_form

    made = {}
    for kind in ("apn", "fcm", "gcm", "sms"):
        form = credential_form(kind)
        created = twilio_client.notify.v1.credentials.create(
            type=form["Type"],
            certificate=form.get("Certificate"),
            private_key=form.get("PrivateKey"),
            api_key=form.get("ApiKey"),
            secret=form.get("Secret"),
        )
        made[kind] = created.sid
    return made
