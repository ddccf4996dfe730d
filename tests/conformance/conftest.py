"""Conformance: the local API (`python -m local_api`, as `make run` serves it) that generated
requests go to. What they got back is summed up at the end of the run (tally.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from schemathesis.pytest.plugin import SchemathesisFunction

from tests.conformance.support import CREDENTIAL_KINDS, Target
from tests.e2e.support import running_local_api


@pytest.fixture(scope="session")
def conformance_target() -> Iterator[Target]:
    with running_local_api() as local, requests.Session() as http:
        http.trust_env = False  # straight to the loopback server, whatever proxy is set
        target = Target(local.url, local.account, http)
        target.credentials = {kind: target.new_credential(kind) for kind in CREDENTIAL_KINDS}
        target.service = target.new_service()
        target.binding = target.new_binding(target.service)
        yield target
        target.delete_created()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Gives the item of each operation that schemathesis generates a node ID of its own.

    schemathesis names them `test_...[GET /v1/Services]`, but pytest 9 builds a node ID from the
    function's name and parameters alone: every operation of a test shares one ID. A serial run
    runs them all the same; xdist (`make test`) hands tests to its workers by node ID, and would
    run only one operation of each test (test_given_the_runs_above_... would then fail).
    """
    for item in items:
        if isinstance(item, SchemathesisFunction) and item.operation_label:
            if item.nodeid.endswith(f"[{item.operation_label}]"):
                continue  # already its own, as before pytest 9
            item._id = item._id.with_params(item.operation_label)
