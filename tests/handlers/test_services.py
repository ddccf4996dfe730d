"""The Service functions, and Services as the boundary of every binding operation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from local_api.events import http_api_event, sqs_event, with_authorizer_context
from notify_bindings import dependencies
from notify_bindings.dal.bindings.store import Limits
from tests.conftest import Invoker, new_account, new_service
from tests.handlers.helpers import CREATE, DELETE, FETCH, LIST, bindings_path, create

CREATE_SERVICE = "CreateServiceFunction"
LIST_SERVICES = "ListServicesFunction"
FETCH_SERVICE = "FetchServiceFunction"
UPDATE_SERVICE = "UpdateServiceFunction"
DELETE_SERVICE = "DeleteServiceFunction"
PURGE = "PurgeServiceFunction"


def service_path(sid: str) -> str:
    return f"/v1/Services/{sid}"


def test_given_a_form_when_a_service_is_created_then_201_with_twilios_fields(invoke):
    reply = invoke(
        CREATE_SERVICE,
        "/v1/Services",
        form={
            "FriendlyName": "My app",
            "DefaultApnNotificationProtocolVersion": "4",
            "LogEnabled": "false",
        },
    )

    assert reply.status == 201
    body = reply.json()
    assert body["friendly_name"] == "My app"
    assert body["default_apn_notification_protocol_version"] == "4"
    assert body["log_enabled"] is False
    assert body["delivery_callback_enabled"] is False
    assert invoke(FETCH_SERVICE, service_path(body["sid"])).json() == body


def test_given_an_update_then_only_the_given_settings_change(invoke):
    created = invoke(
        CREATE_SERVICE, "/v1/Services", form={"FriendlyName": "a", "LogEnabled": "false"}
    ).json()

    updated = invoke(
        UPDATE_SERVICE,
        service_path(created["sid"]),
        form={"FriendlyName": "b", "MessagingServiceSid": "MG" + "0" * 32},
    ).json()

    assert updated["friendly_name"] == "b"
    assert updated["messaging_service_sid"] == "MG" + "0" * 32
    assert updated["log_enabled"] is False
    assert updated["date_created"] == created["date_created"]
    cleared = invoke(UPDATE_SERVICE, service_path(created["sid"]), form={"LogEnabled": ""}).json()
    assert cleared["log_enabled"] is True  # an empty value restores the default


def test_given_services_when_listed_by_friendly_name_then_only_those_in_pages(invoke, account):
    caller = new_account()
    for name in ("x", "y", "x", "x"):
        invoke(CREATE_SERVICE, "/v1/Services", form={"FriendlyName": name}, account=caller.sid)

    first = invoke(
        LIST_SERVICES,
        "/v1/Services",
        query={"FriendlyName": "x", "PageSize": 2},
        account=caller.sid,
    ).json()

    assert [s["friendly_name"] for s in first["services"]] == ["x", "x"]
    assert first["meta"]["key"] == "services"
    assert first["meta"]["next_page_url"] is not None
    everything = invoke(LIST_SERVICES, "/v1/Services", account=caller.sid).json()["services"]
    assert len(everything) == 4


def test_given_another_accounts_service_then_every_operation_is_404(invoke, service_sid):
    binding = create(invoke, service_sid)
    stranger = new_account().sid
    binding_path = f"{bindings_path(service_sid)}/{binding['sid']}"

    for function, path, extra in (
        (FETCH_SERVICE, service_path(service_sid), {}),
        (UPDATE_SERVICE, service_path(service_sid), {"form": {"FriendlyName": "mine"}}),
        (DELETE_SERVICE, service_path(service_sid), {}),
        (
            CREATE,
            bindings_path(service_sid),
            {"form": {"Identity": "x", "BindingType": "apn", "Address": "y"}},
        ),
        (LIST, bindings_path(service_sid), {}),
        (FETCH, binding_path, {}),
        (DELETE, binding_path, {}),
    ):
        reply = invoke(function, path, account=stranger, **extra)

        assert reply.status == 404, function
        assert reply.json()["code"] == 20404
    assert invoke(FETCH, binding_path).json() == binding
    assert invoke(LIST_SERVICES, "/v1/Services", account=stranger).json()["services"] == []


@pytest.mark.parametrize(
    ("function", "path"),
    [
        (CREATE_SERVICE, "/v1/Services"),
        (LIST_SERVICES, "/v1/Services"),
        (FETCH_SERVICE, service_path("IS" + "0" * 32)),
        (CREATE, bindings_path("IS" + "0" * 32)),
        (LIST, bindings_path("IS" + "0" * 32)),
    ],
)
def test_given_no_proven_account_then_401_20003_before_anything(invoke, function, path):
    reply = invoke(function, path, account=None)

    assert reply.status == 401
    assert reply.json()["code"] == 20003
    assert reply.headers["WWW-Authenticate"].startswith("Basic")


def test_given_service_defaults_then_bindings_take_their_protocol_versions(invoke, account):
    service = new_service(
        account.sid,
        default_apn_notification_protocol_version="4",
        default_fcm_notification_protocol_version="5",
    )

    def version(kind: str, **form: str) -> object:
        return create(invoke, service, BindingType=kind, Address=f"{kind}-{len(form)}", **form)[
            "notification_protocol_version"
        ]

    assert version("apn") == "4"
    assert version("fcm") == "5"
    assert version("gcm") == "3"
    assert version("apn", NotificationProtocolVersion="9") == "9"


def test_given_a_deleted_service_then_404_at_once_and_purged_through_the_queue(
    invoke, functions, aws, service_sid, dynamodb, store_limits
):
    store_limits(Limits(purge_page=10))  # pages of 10, so that a few make several
    for n in range(25):
        create(invoke, service_sid, Identity=f"u{n % 20}", Address=f"t{n}", Tag=["a"])

    assert invoke(DELETE_SERVICE, service_path(service_sid)).status == 204

    assert invoke(FETCH_SERVICE, service_path(service_sid)).status == 404
    assert invoke(LIST, bindings_path(service_sid)).status == 404
    assert invoke(DELETE_SERVICE, service_path(service_sid)).status == 404
    queue = aws["ServicePurgeQueue"]
    sqs = functions.environment  # the functions' own environment names the queue
    assert sqs["SERVICE_PURGE_QUEUE_URL"] == queue.url
    # With no time left, an invocation hands the whole purge on to a new message.
    assert deliver(functions, queue, timeout_seconds=0) == 1
    assert items_of(dynamodb, service_sid) != []
    deliveries = 1
    while deliver(functions, queue, timeout_seconds=60):
        deliveries += 1
        assert deliveries < 10, "the purge does not finish"
    assert items_of(dynamodb, service_sid) == []


def deliver(functions, queue, timeout_seconds: int) -> int:
    """Hand the purge function the next message of its queue, as Lambda's SQS poller would;
    how many it got (0 or 1)."""
    import boto3

    from local_api.events import LambdaContext

    client = boto3.client("sqs")
    received = client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=1)
    messages = received.get("Messages", [])
    if not messages:
        return 0
    context = LambdaContext(PURGE, timeout_seconds=timeout_seconds)
    response = functions.functions[PURGE].load_handler()(sqs_event(messages, queue.arn), context)
    assert response == {"batchItemFailures": []}
    client.delete_message(QueueUrl=queue.url, ReceiptHandle=messages[0]["ReceiptHandle"])
    return 1


def items_of(dynamodb, service_sid: str) -> list[object]:
    found = []
    for table in ("BindingsTable", "BindingIndexTable", "ServicesTable"):
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            found += [
                item for item in page["Items"] if service_sid in json.dumps(item, default=repr)
            ]
    return found


API_DOMAIN = "abc123def4.execute-api.eu-west-1.amazonaws.com"
UNTRUSTED_HEADERS = {
    "Host": "evil.example",
    "X-Forwarded-Proto": "javascript",
    "X-Forwarded-Host": "evil.example",
}


def _urls(value):
    if isinstance(value, dict):
        return [url for item in value.values() for url in _urls(item)]
    if isinstance(value, list):
        return [url for item in value for url in _urls(item)]
    return [value] if isinstance(value, str) and "://" in value else []


@pytest.mark.parametrize("listing", ["services", "bindings"])
def test_given_a_client_naming_another_host_and_scheme_then_every_url_is_on_the_apis_domain(
    invoke, functions, listing
):
    account = new_account()
    service = new_service(account.sid)
    new_service(account.sid)
    for address in ("token-1", "token-2"):
        create(Invoker(functions, account.sid), service, Address=address, BindingType="apn")
    function, path = {
        "services": (LIST_SERVICES, "/v1/Services"),
        "bindings": (LIST, bindings_path(service)),
    }[listing]
    (route,) = functions.functions[function].routes
    event = http_api_event(
        route, path, query="PageSize=1", headers=UNTRUSTED_HEADERS, domain_name=API_DOMAIN
    )
    event = with_authorizer_context(event, {"accountSid": account.sid})

    body = json.loads(functions.invoke(function, event)["body"])

    urls = _urls(body)
    assert body["meta"]["next_page_url"] in urls
    assert len(urls) >= 4  # the item's url (and links), the page's url, first and next
    assert all(url.startswith(f"https://{API_DOMAIN}/v1/Services") for url in urls), urls


class _FailingSecretsManager:
    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    def get_secret_value(self, **_: Any) -> dict[str, Any]:
        raise self.failure


@pytest.mark.parametrize(
    "failure",
    [
        ClientError({"Error": {"Code": "ThrottlingException"}}, "GetSecretValue"),
        ClientError(
            {
                "Error": {"Code": "InternalServiceError"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            },
            "GetSecretValue",
        ),
        EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
    ],
    ids=["throttled", "failing", "unreachable"],
)
def test_given_secrets_manager_down_when_a_list_signs_a_token_then_503_until_it_answers(
    functions, monkeypatch, failure
):
    account = new_account()
    new_service(account.sid)
    new_service(account.sid)
    invoke = Invoker(functions, account.sid)
    dependencies.page_token_secret.cache_clear()  # a fresh execution environment
    try:
        with monkeypatch.context() as patch:
            patch.setattr(dependencies, "secretsmanager", lambda: _FailingSecretsManager(failure))
            reply = invoke(LIST_SERVICES, "/v1/Services", query={"PageSize": "1"})
        recovered = invoke(LIST_SERVICES, "/v1/Services", query={"PageSize": "1"})
    finally:
        dependencies.page_token_secret.cache_clear()

    assert reply.status == 503
    assert reply.json()["code"] == 20503
    assert recovered.status == 200  # the failure was not kept for the environment's life
    assert recovered.json()["meta"]["next_page_url"]
