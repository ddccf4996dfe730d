"""Hostile requests against the local API (`python -m local_api`, as `make run` serves it):
each must be a 4xx in Twilio's error JSON and change nothing.

One server and one Service (holding one binding) serve the whole directory. After
every test, `unchanged` lists everything the account can see - its Services with their
settings, and every binding of each - and the listing must equal the one before the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.support import running_local_api
from tests.hostile.support import Api, everything


@pytest.fixture(scope="session")
def hostile_api() -> Iterator[Api]:
    with running_local_api() as local, requests.Session() as session:
        session.trust_env = False  # straight to the loopback server, whatever proxy is set
        yield Api(local.url, local.account, session)


@pytest.fixture(scope="session")
def hostile_service(hostile_api: Api) -> str:
    created = hostile_api.request("POST", "/v1/Services", data={"FriendlyName": "hostile"})
    assert created.status_code == 201, created.text
    sid = str(created.json()["sid"])
    binding = hostile_api.request(
        "POST",
        f"/v1/Services/{sid}/Bindings",
        data={"Identity": "alice", "BindingType": "apn", "Address": "token-1", "Tag": "vip"},
    )
    assert binding.status_code == 201, binding.text
    return sid


@pytest.fixture(scope="session")
def hostile_binding(hostile_api: Api, hostile_service: str) -> str:
    listed = hostile_api.request("GET", f"/v1/Services/{hostile_service}/Bindings").json()
    (binding,) = listed["bindings"]
    return str(binding["sid"])


@pytest.fixture(scope="session")
def known_state(hostile_api: Api, hostile_service: str, hostile_binding: str) -> dict[str, Any]:
    """What the account holds, as last listed: the Service and its one binding."""
    state = everything(hostile_api)
    assert [b["sid"] for b in state[hostile_service]["bindings"]] == [hostile_binding]
    return {"listed": state}


@pytest.fixture(autouse=True)
def unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    if "hostile_api" not in request.fixturenames:  # a test of the models alone
        yield
        return
    hostile_api: Api = request.getfixturevalue("hostile_api")
    known_state: dict[str, Any] = request.getfixturevalue("known_state")
    yield
    listed = everything(hostile_api)
    # Whatever the outcome, the next test compares with what is there now.
    before, known_state["listed"] = known_state["listed"], listed
    assert listed == before, "a refused request changed what the API holds"
