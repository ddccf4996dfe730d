"""Conformance: the local API (`python -m local_api`, as `make run` serves it) that generated
requests go to, and a summary of them at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conformance.support import TALLY, Target
from tests.e2e.support import running_local_api


@pytest.fixture(scope="session")
def conformance_target() -> Iterator[Target]:
    with running_local_api() as local, requests.Session() as http:
        http.trust_env = False  # straight to the loopback server, whatever proxy is set
        target = Target(local.url, local.account, http)
        target.service = target.new_service()
        target.binding = target.new_binding(target.service)
        yield target
        target.delete_created()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY.cases:
        return
    terminalreporter.section("schemathesis")
    for document, count in TALLY.cases.items():
        answered = {
            operation: dict(sorted(statuses.items()))
            for operation, statuses in TALLY.statuses[document].items()
        }
        terminalreporter.write_line(f"{document}: {count} generated cases")
        for operation, statuses in sorted(answered.items()):
            terminalreporter.write_line(f"  {operation}: {statuses}")
        for why, times in sorted(TALLY.set_aside[document].items()):
            terminalreporter.write_line(f"  set aside {times}x, deliberate: {why}")
