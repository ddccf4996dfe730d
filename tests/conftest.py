"""Shared fixtures: the template, moto's DynamoDB and SQS with the template's tables and
queues, the template's functions invoked as Lambda would invoke them behind the authorizer's
context, an account, and a fresh Service of that account for every test."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import pytest

from local_api import moto_patches
from local_api.events import http_api_event, with_authorizer_context
from local_api.runtime import (
    LOCAL_CREDENTIALS,
    LocalFunctions,
    LocalQueue,
    create_event_buses,
    create_keys,
    create_queues,
    create_secrets,
    create_tables,
    dynamodb_client,
    events_client,
    kms_client,
    secretsmanager_client,
    sqs_client,
)
from local_api.template import SamTemplate
from notify_bindings.dal.bindings.store import BindingStore, Limits
from tests.conformance.tally import TALLY
from tests.factories import account_store
from tests.faults.summary import FAULTS
from tests.migrate.summary import MIGRATION
from tests.model.summary import MODEL_RUNS
from tests.summaries import Figures, Summary

# Never let a test reach a real AWS account, whatever the machine has configured.
os.environ.update(LOCAL_CREDENTIALS)
for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(variable, None)
# Test modules import the layer while they are collected, before any fixture runs, and
# Powertools reads its settings (the metrics namespace, say) when the layer is imported: give
# it the template's literal settings now, as Lambda gives them before any import.
os.environ.update(
    {
        name: value
        for name, value in SamTemplate.load().globals_environment().items()
        if isinstance(value, str)
    }
)


@pytest.fixture(scope="session")
def template() -> SamTemplate:
    return SamTemplate.load()


# Set (to anything) in the environment of a run, moto stays as released: local_api.moto_patches
# is not installed. tests/handlers/test_unpatched_moto.py runs a few handler tests so, to show
# whether moto's own DynamoDB still needs the patches to answer as DynamoDB does.
UNPATCHED_MOTO = "NOTIFY_TESTS_UNPATCHED_MOTO"


def pytest_report_header() -> str | None:
    return f"moto: unpatched ({UNPATCHED_MOTO})" if os.environ.get(UNPATCHED_MOTO) else None


@pytest.fixture(scope="session")
def aws(template: SamTemplate) -> Iterator[dict[str, LocalQueue]]:
    """moto's in-process AWS for the whole session, with the template's tables and queues."""
    from moto import mock_aws

    if os.environ.get(UNPATCHED_MOTO):
        assert not moto_patches.installed()
    else:
        moto_patches.install()
    with mock_aws():
        create_tables(dynamodb_client(None), template)
        yield create_queues(sqs_client(None), template)


@pytest.fixture(scope="session")
def dynamodb(aws: dict[str, LocalQueue]) -> Any:
    return dynamodb_client(None)


@pytest.fixture(scope="session")
def event_buses(template: SamTemplate, aws: dict[str, LocalQueue]) -> dict[str, str]:
    """The template's EventBridge buses, and its KMS keys, in moto: what `!Ref` and `!GetAtt
    .Arn` of each are."""
    return create_event_buses(events_client(None), template) | create_keys(
        kms_client(None), template
    )


@pytest.fixture(scope="session")
def functions(
    template: SamTemplate, aws: dict[str, LocalQueue], dynamodb: Any, event_buses: dict[str, str]
) -> LocalFunctions:
    names = {logical_id: logical_id for logical_id in template.tables}
    secrets = create_secrets(secretsmanager_client(None), template)
    return LocalFunctions.start(
        template, None, names, queues=aws, event_buses=event_buses, secrets=secrets
    )


@pytest.fixture(scope="session")
def account(functions: LocalFunctions) -> Credentials:
    """An account, and its auth token, that the handler tests act as."""
    return new_account()


def new_account() -> Credentials:
    created, token = account_store().create_account("Tests")
    return Credentials(created.sid, token)


@dataclass(frozen=True)
class Credentials:
    sid: str
    token: str


@pytest.fixture
def service_sid(account: Credentials) -> str:
    """Each test works in a Service of its own, so tests share tables but not data."""
    return new_service(account.sid)


def new_service(account_sid: str, **settings: Any) -> str:
    from notify_bindings import dependencies
    from notify_bindings.domain.services import Service
    from notify_bindings.platform.sids import time_ordered_sid

    now = dependencies.now()
    service = Service(time_ordered_sid("IS", now), account_sid, now, now, **settings)
    dependencies.service_store().create(service)
    return service.sid


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Invoker:
    """Calls a template function with the event API Gateway would send for a request, after
    the authorizer has proved the caller to be `account` (None: it proved nobody)."""

    functions: LocalFunctions
    account: str | None

    def __call__(
        self,
        logical_id: str,
        path: str,
        *,
        form: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        query: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        method: str | None = None,
        account: str | Literal["caller"] | None = "caller",
    ) -> Reply:
        (route,) = self.functions.functions[logical_id].routes
        request_headers = dict(headers or {})
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            request_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        event = http_api_event(
            route,
            path,
            method=method,
            query=urlencode(query or {}, doseq=True),
            headers=request_headers,
            body=body or b"",
        )
        caller = self.account if account == "caller" else account
        event = with_authorizer_context(event, {"accountSid": caller} if caller else {})
        response = self.functions.invoke(logical_id, event)
        return Reply(response["statusCode"], response.get("headers", {}), response["body"])


@dataclass
class Clock:
    """The functions' clock (`dependencies.now`), moved on by the test: it dates what they
    create and decides what has expired."""

    moment: datetime

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)

    def timestamp(self) -> float:
        return self.moment.timestamp()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from notify_bindings import dependencies

    controlled = Clock(dependencies.now())
    monkeypatch.setattr(dependencies, "now", lambda: controlled.moment)
    return controlled


@pytest.fixture
def store_limits(functions: LocalFunctions, monkeypatch: pytest.MonkeyPatch) -> StoreLimits:
    """Give the functions' binding store other limits (`Limits`: read budgets, the purge page)
    for this test, as its settings would, so that a few items reach them."""

    def use(limits: Limits) -> None:
        from notify_bindings import dependencies

        config = dependencies.settings()
        store = BindingStore(
            dependencies.dynamodb(),
            config.bindings_table,
            config.binding_index_table,
            config.services_table,
            clock=lambda: dependencies.now().timestamp(),
            limits=limits,
        )
        monkeypatch.setattr(dependencies, "binding_store", lambda: store)

    return use


StoreLimits = Callable[[Limits], None]


@pytest.fixture
def invoke(functions: LocalFunctions, account: Credentials) -> Invoker:
    return Invoker(functions, account.sid)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the files that hold a `slow` test go first, in the order collected.

    `make test` hands whole files to its workers in collection order (pyproject.toml: --dist
    loadfile --no-loadscope-reorder); a file of minutes handed out last would run on alone long
    after the other workers ran out of files. A plain `pytest` keeps the collection order."""
    if not hasattr(config, "workerinput"):
        return
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file's order is kept


# The sections tests add to pytest's closing summary (tests/summaries.py), in print order.
SUMMARIES: tuple[Summary, ...] = (FAULTS, TALLY, MODEL_RUNS, MIGRATION)
# Under xdist, on the controller: the figures each worker handed over, and the workers that went
# down without handing any over (they crashed), by worker id.
_WORKER_FIGURES: dict[str, dict[str, Figures]] = {}
_WORKERS_LOST: list[str] = []


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: its controller prints the summaries
        workeroutput["summaries"] = {summary.title: summary.figures() for summary in SUMMARIES}


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown when xdist is not loaded
def pytest_testnodedown(node: Any, error: object) -> None:
    worker = str(node.gateway.id)
    figures = getattr(node, "workeroutput", {}).get("summaries")
    if figures is None:
        _WORKERS_LOST.append(worker)
    else:
        _WORKER_FIGURES[worker] = figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    workers = [_WORKER_FIGURES[worker] for worker in sorted(_WORKER_FIGURES, key=_worker_order)]
    for summary in SUMMARIES:
        lines = summary.render([summary.figures(), *(w.get(summary.title) for w in workers)])
        if lines:
            terminalreporter.section(summary.title)
            for line in lines:
                terminalreporter.write_line(line)
            if _WORKERS_LOST:
                terminalreporter.write_line(f"  incomplete: {', '.join(_WORKERS_LOST)} crashed")


def _worker_order(worker: str) -> tuple[int, str]:
    """gw2 before gw10."""
    return (len(worker), worker)
