"""Shared fixtures: the template, moto's DynamoDB with the template's tables, the template's
functions invoked as Lambda would invoke them, and a fresh Service for every test."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from local_api.events import http_api_event
from local_api.runtime import LOCAL_CREDENTIALS, LocalFunctions, create_tables, dynamodb_client
from local_api.template import SamTemplate

# Never let a test reach a real AWS account, whatever the machine has configured.
os.environ.update(LOCAL_CREDENTIALS)
for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(variable, None)


@pytest.fixture(scope="session")
def template() -> SamTemplate:
    return SamTemplate.load()


@pytest.fixture(scope="session")
def dynamodb(template: SamTemplate) -> Iterator[Any]:
    """moto's in-process DynamoDB for the whole session, with the template's tables."""
    from moto import mock_aws

    with mock_aws():
        client = dynamodb_client(None)
        create_tables(client, template)
        yield client


@pytest.fixture(scope="session")
def functions(template: SamTemplate, dynamodb: Any) -> LocalFunctions:
    names = {logical_id: logical_id for logical_id in template.tables}
    return LocalFunctions.start(template, None, names)


@pytest.fixture
def service_sid() -> str:
    """Each test works in a Service of its own, so tests share tables but not data."""
    from notify_bindings.sids import new_sid

    return new_sid("IS")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Invoker:
    """Calls a template function with the event API Gateway would send for a request."""

    functions: LocalFunctions

    def __call__(
        self,
        logical_id: str,
        path: str,
        *,
        form: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        query: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        (route,) = self.functions.functions[logical_id].routes
        request_headers = dict(headers or {})
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            request_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        event = http_api_event(
            route,
            path,
            query=urlencode(query or {}, doseq=True),
            headers=request_headers,
            body=body or b"",
        )
        response = self.functions.invoke(logical_id, event)
        return Reply(response["statusCode"], response.get("headers", {}), response["body"])


@pytest.fixture
def invoke(functions: LocalFunctions) -> Invoker:
    return Invoker(functions)
