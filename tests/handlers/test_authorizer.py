"""The authorizer function, loaded through template.yaml with the environment the template
gives it, against moto's DynamoDB: an HTTP API authorizer event (payload format 2.0, simple
responses) in, and always `isAuthorized: true` out, with the proven account or none."""

from __future__ import annotations

import base64
import logging
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_api.events import LambdaContext, http_api_event
from local_api.template import SamTemplate, resolve_environment
from notify_bindings import dependencies
from notify_bindings.dal.accounts import AccountStore
from notify_bindings.platform.errors import Unavailable
from tests.factories import basic

FUNCTION = "AuthorizerFunction"
SERVICE = "IS" + "0" * 32
# Values CloudFormation supplies at deploy time, which have no local counterpart here.
DEPLOY_TIME = {"SERVICE_PURGE_QUEUE_URL": ""}

Authorize = Callable[[str | None], dict[str, Any]]


def authorizer_event(template: SamTemplate, authorization: str | None) -> dict[str, Any]:
    """What API Gateway sends a REQUEST authorizer (payload 2.0) for a list request."""
    (route,) = template.functions["ListBindingsFunction"].routes
    path = f"/v1/Services/{SERVICE}/Bindings"
    headers = {"User-Agent": "twilio-python/9.13.0", "Accept": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    event = http_api_event(route, path, query="PageSize=50", headers=headers)
    del event["isBase64Encoded"]  # authorizers get no body
    event.update(
        {
            "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:us-east-1:000000000000:local/$default/GET{path}",
            "identitySource": [],  # the template names none (see its comment)
        }
    )
    return event


def context_of(template: SamTemplate) -> LambdaContext:
    """The context Lambda invokes the authorizer with: the template's timeout, not a default."""
    return LambdaContext(FUNCTION, timeout_seconds=template.functions[FUNCTION].timeout)


@pytest.fixture
def environment(template: SamTemplate, dynamodb: Any, monkeypatch) -> Iterator[dict[str, str]]:
    """The authorizer's environment as the template resolves it, tables named by logical id."""
    references = {
        **{name: str(value) for name, value in template.parameters.items()},
        **{name: name for name in template.tables},
    }
    resolved = resolve_environment(
        template.functions[FUNCTION].environment, references, DEPLOY_TIME
    )
    monkeypatch.delenv("DYNAMODB_ENDPOINT_URL", raising=False)  # moto's in-process mock
    for name, value in resolved.items():
        monkeypatch.setenv(name, value)
    dependencies.reset()
    yield resolved
    dependencies.reset()


@pytest.fixture
def authorize(template: SamTemplate, environment: dict[str, str]) -> Authorize:
    handler = template.functions[FUNCTION].load_handler()

    def call(authorization: str | None) -> dict[str, Any]:
        return handler(authorizer_event(template, authorization), context_of(template))

    return call


@pytest.fixture
def accounts(dynamodb: Any, environment: dict[str, str]) -> AccountStore:
    return AccountStore(dynamodb, environment["ACCOUNTS_TABLE"])


def test_given_the_template_then_the_authorizer_reads_the_accounts_table_and_its_cache_ttl(
    environment,
):
    assert environment["ACCOUNTS_TABLE"] == "AccountsTable"
    assert environment["AUTH_CACHE_SECONDS"] == "60"


def test_given_an_account_sid_and_its_token_then_the_account_is_in_the_context(authorize, accounts):
    account, token = accounts.create_account()

    assert authorize(basic(account.sid, token)) == {
        "isAuthorized": True,
        "context": {"accountSid": account.sid},
    }


def test_given_an_api_key_and_its_secret_then_the_owning_account_is_in_the_context(
    authorize, accounts
):
    account, _ = accounts.create_account()
    key, secret = accounts.create_api_key(account.sid)

    assert authorize(basic(key.sid, secret)) == {
        "isAuthorized": True,
        "context": {"accountSid": account.sid},
    }


def test_given_wrong_credentials_then_authorized_with_an_empty_context(authorize, accounts):
    account, token = accounts.create_account()
    key, secret = accounts.create_api_key(account.sid)

    for header in (
        basic(account.sid, secret),
        basic(key.sid, token),
        basic("AC" + "9" * 32, token),
    ):
        assert authorize(header) == {"isAuthorized": True, "context": {}}


def test_given_no_authorization_header_then_authorized_with_an_empty_context(authorize):
    assert authorize(None) == {"isAuthorized": True, "context": {}}


@pytest.mark.parametrize(
    "header",
    ["", "Bearer abc", "Basic", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()],
)
def test_given_a_malformed_header_then_authorized_with_an_empty_context(authorize, header):
    assert authorize(header) == {"isAuthorized": True, "context": {}}


def test_given_a_revoked_key_then_authorized_with_an_empty_context(authorize, accounts):
    account, _ = accounts.create_account()
    key, secret = accounts.create_api_key(account.sid)
    accounts.revoke_api_key(key.sid)

    assert authorize(basic(key.sid, secret)) == {"isAuthorized": True, "context": {}}


def test_given_no_cache_when_a_key_is_revoked_then_the_next_request_is_refused(
    template, environment, monkeypatch, accounts
):
    monkeypatch.setenv("AUTH_CACHE_SECONDS", "0")
    handler = template.functions[FUNCTION].load_handler()
    account, _ = accounts.create_account()
    key, secret = accounts.create_api_key(account.sid)
    event = authorizer_event(template, basic(key.sid, secret))
    assert handler(event, context_of(template))["context"] == {"accountSid": account.sid}

    accounts.revoke_api_key(key.sid)

    assert handler(event, context_of(template))["context"] == {}


CACHE_SECONDS = 4


def test_given_an_auth_cache_when_a_used_key_is_revoked_then_it_works_until_the_cache_expires(
    template, environment, monkeypatch, accounts
):
    clock = {"now": 1000.0}  # the authenticator's, moved on by the test: nothing sleeps
    monkeypatch.setattr(dependencies, "monotonic", lambda: clock["now"])
    monkeypatch.setenv("AUTH_CACHE_SECONDS", str(CACHE_SECONDS))
    handler = template.functions[FUNCTION].load_handler()
    account, _ = accounts.create_account()
    key, secret = accounts.create_api_key(account.sid)

    def context(password: str) -> dict[str, str]:
        event = authorizer_event(template, basic(key.sid, password))
        return dict(handler(event, context_of(template))["context"])

    proven = {"accountSid": account.sid}
    assert context(secret) == proven  # proven, and so remembered until CACHE_SECONDS later
    accounts.revoke_api_key(key.sid)

    clock["now"] += CACHE_SECONDS - 0.1
    assert context(secret) == proven  # remembered: the revocation is not seen yet
    assert context("wrong-secret") == {}  # only what was proven is remembered
    clock["now"] += 0.1
    assert context(secret) == {}


def test_given_dynamodb_unreachable_then_authorized_with_the_error_code_not_an_account(
    authorize, monkeypatch
):
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    dependencies.reset()

    assert authorize(basic("AC" + "1" * 32, "1" * 32)) == {
        "isAuthorized": True,
        "context": {"authError": str(Unavailable.code)},
    }


def test_given_any_request_then_the_header_and_secret_stay_out_of_the_logs(
    template, environment, accounts, caplog, monkeypatch
):
    # Even with Powertools told to log every event, which it reads when the module loads.
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    monkeypatch.delitem(sys.modules, f"{FUNCTION}.app", raising=False)
    handler = template.functions[FUNCTION].load_handler()
    account, token = accounts.create_account()
    header = basic(account.sid, token)

    with caplog.at_level(logging.DEBUG):
        for authorization in (header, basic(account.sid, "0" * 32)):
            handler(authorizer_event(template, authorization), context_of(template))

    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "Credentials accepted" in logged
    assert "Credentials refused" in logged
    assert token not in logged
    assert header.split()[1] not in logged
