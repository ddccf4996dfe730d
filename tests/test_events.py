"""The sample events in events/, one per function, named after its operation: each is what AWS
sends that function - API Gateway's HTTP API (payload format 2.0) request for a route's function,
once the authorizer has proved the caller's account; the authorizer's own REQUEST event; Lambda's
SQS batches for the purge and the dead tokens; a DynamoDB Streams batch for the change events, with
a delete by DynamoDB's TTL, which moto's streams cannot make - and invoking the function with it, as
`sam local invoke <Function> -e events/<operation>.json` does, succeeds.

The events act as one fixed account, whose SID and auth token they carry, and share one fixed
Service, which no other test uses; the fetch and delete events name a fixed binding of it. What
they name is the project's own knowledge (local_api.fixtures), which `make run`, `make fixtures`
and `make invoke` put into the tables as `event_bindings` does before each test here, so the
order of tests and any earlier delete do not matter. The delete_service and purge_service events
name another fixed Service, which the fixtures make live, or deleted for the purge.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import pytest

from local_api.events import authorizer_event, http_api_event, sqs_event, with_authorizer_context
from local_api.fixtures import (
    DELETED_SERVICE_SID,
    EVENT_ACCOUNT_SID,
    EVENT_AUTH_TOKEN,
    EVENT_CREDENTIAL_SID,
    EVENT_IDENTITY,
    EVENT_SERVICE_SID,
    EVENTS_DIR,
    PURGE_SERVICE,
    fixture_address,
    load_event,
    seed_event_fixtures,
)
from local_api.runtime import LocalFunctions
from local_api.template import Function, Route, SamTemplate
from notify_bindings import dependencies
from notify_bindings.api.auth import parse_basic
from notify_bindings.dal.bindings.items import binding_from
from notify_bindings.domain.bindings import Binding, BindingType
from notify_bindings.operations.purge import PurgeRequest
from notify_bindings.platform.sids import is_binding_sid, is_service_sid
from tests.factories import new_binding, put_binding

FORM = "application/x-www-form-urlencoded"
CREATE = "POST /v1/Services/{ServiceSid}/Bindings"
LIST = "GET /v1/Services/{ServiceSid}/Bindings"
FETCH = "GET /v1/Services/{ServiceSid}/Bindings/{Sid}"
DELETE = "DELETE /v1/Services/{ServiceSid}/Bindings/{Sid}"
CREATE_SERVICE = "POST /v1/Services"
LIST_SERVICES = "GET /v1/Services"
FETCH_SERVICE = "GET /v1/Services/{Sid}"
UPDATE_SERVICE = "POST /v1/Services/{Sid}"
DELETE_SERVICE = "DELETE /v1/Services/{Sid}"
FETCH_USER = "GET /v1/Services/{ServiceSid}/Users/{Identity}"
LIST_USERS = "GET /v1/Services/{ServiceSid}/Users"
LIST_USER_BINDINGS = "GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings"
DELETE_USER = "DELETE /v1/Services/{ServiceSid}/Users/{Identity}"
REPORT_DEAD_TOKEN = "POST /v1/Services/{ServiceSid}/DeadTokens"
CREATE_NOTIFICATION = "POST /v1/Services/{ServiceSid}/Notifications"
FETCH_NOTIFICATION = "GET /v1/Services/{ServiceSid}/Notifications/{Sid}"
UNMATCHED = "$default"
# The contract: what each route answers to its sample event. The $default route's event is a
# POST to a binding, which Twilio has no route for, so its answer is 405.
SUCCESS = {
    CREATE: 201,
    LIST: 200,
    FETCH: 200,
    DELETE: 204,
    UNMATCHED: 405,
    CREATE_SERVICE: 201,
    LIST_SERVICES: 200,
    FETCH_SERVICE: 200,
    UPDATE_SERVICE: 200,
    DELETE_SERVICE: 204,
    FETCH_USER: 200,
    LIST_USERS: 200,
    LIST_USER_BINDINGS: 200,
    DELETE_USER: 204,
    REPORT_DEAD_TOKEN: 200,
    CREATE_NOTIFICATION: 201,
    FETCH_NOTIFICATION: 200,
    "POST /v1/Credentials": 201,
    "GET /v1/Credentials": 200,
    "GET /v1/Credentials/{Sid}": 200,
    "POST /v1/Credentials/{Sid}": 200,
    "DELETE /v1/Credentials/{Sid}": 204,
}
TEMPLATE = SamTemplate.load()
FUNCTIONS = sorted(TEMPLATE.functions)
# Every function is invoked in one of three ways, and its event is of that kind.
ROUTED = sorted(name for name, function in TEMPLATE.functions.items() if function.routes)
AUTHORIZERS = sorted({r.authorizer.function for r in TEMPLATE.routes if r.authorizer})
QUEUE_CONSUMERS = sorted(name for name, f in TEMPLATE.functions.items() if f.sqs_sources)
STREAM_CONSUMERS = sorted(name for name, f in TEMPLATE.functions.items() if f.stream_sources)


def serving(template: SamTemplate, route_key: str) -> Function:
    (function,) = (
        f for f in template.functions.values() if route_key in {r.route_key for r in f.routes}
    )
    return function


def event_of(template: SamTemplate, logical_id: str) -> tuple[Function, dict[str, Any]]:
    function = template.functions[logical_id]
    return function, load_event(function)


def route_events(template: SamTemplate) -> list[dict[str, Any]]:
    return [load_event(template.functions[name]) for name in ROUTED]


def body_bytes(event: dict[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    return base64.b64decode(body, validate=True) if event["isBase64Encoded"] else body.encode()


def guarded_by(template: SamTemplate, authorizer: str) -> dict[str, Route]:
    """The routes that `authorizer` runs before, by route key."""
    return {
        route.route_key: route
        for route in template.routes
        if route.authorizer is not None and route.authorizer.function == authorizer
    }


# -- what the events name, in the store -------------------------------------------------------


def items_of(service_sid: str) -> list[dict[str, Any]]:
    """Every item the Service and its bindings have in any table, read raw."""
    settings, client = dependencies.settings(), dependencies.dynamodb()
    found: list[dict[str, Any]] = []
    for table, key in (
        (settings.bindings_table, "ServiceSid"),
        (settings.binding_index_table, "pk"),
    ):
        found += client.query(
            TableName=table,
            KeyConditionExpression="#key = :service",
            ExpressionAttributeNames={"#key": key},
            ExpressionAttributeValues={":service": {"S": service_sid}},
            ConsistentRead=True,
        )["Items"]
    service = client.get_item(
        TableName=settings.services_table,
        Key={"AccountSid": {"S": EVENT_ACCOUNT_SID}, "Sid": {"S": service_sid}},
        ConsistentRead=True,
    )
    return found + ([service["Item"]] if "Item" in service else [])


@pytest.fixture(scope="module", autouse=True)
def purges_left_findable(template: SamTemplate, functions: LocalFunctions) -> Iterator[None]:
    """The delete_service event's invocations ask for purges that nothing takes here, and the
    fixtures make its Service live again: the session's purge queue outlives this module, so
    the Service is left deleted, as those requests expect to find it."""
    yield
    seed_event_fixtures(template, PURGE_SERVICE)


@pytest.fixture
def event_bindings(template: SamTemplate, functions: LocalFunctions) -> list[Binding]:
    """The events' fixtures in the store, as `make invoke` puts them back before invoking: the
    bindings that the events name by SID, with exactly those SIDs."""
    bindings = seed_event_fixtures(template)
    named = {
        event["pathParameters"]["Sid"]
        for event in route_events(template)
        if "ServiceSid" in event.get("pathParameters", {})
        and event["pathParameters"].get("Sid", "").startswith("BS")
    }
    assert {binding.sid for binding in bindings} == named
    return bindings


# -- the events as files ----------------------------------------------------------------------


def test_given_the_template_when_events_are_listed_then_there_is_exactly_one_per_function(
    template,
):
    operations = [function.code_dir.name for function in template.functions.values()]

    events = sorted(path.stem for path in EVENTS_DIR.glob("*.json"))

    assert events == sorted(operations)
    assert len(set(operations)) == len(operations)


def test_given_the_template_then_each_function_is_invoked_by_a_route_the_authorizer_a_queue_or_a_stream():  # noqa: E501
    kinds = [ROUTED, AUTHORIZERS, QUEUE_CONSUMERS, STREAM_CONSUMERS]

    assert sorted(name for kind in kinds for name in kind) == FUNCTIONS  # each in one kind
    assert AUTHORIZERS
    assert QUEUE_CONSUMERS
    assert STREAM_CONSUMERS


def test_given_the_events_when_read_then_they_act_as_one_account_on_fixed_services_and_one_binding(
    template,
):
    events = route_events(template)
    paths = [event["rawPath"].split("/") for event in events]
    binding_paths = [path for path in paths if len(path) > 4]
    (authorizer,) = (load_event(template.functions[name]) for name in AUTHORIZERS)
    (purge,) = (
        load_event(template.functions[name])
        for name in QUEUE_CONSUMERS
        if template.functions[name].code_dir.name == PURGE_SERVICE
    )

    services = {path[3] for path in binding_paths}
    sids = {path[5] for path in binding_paths if len(path) > 5 and path[4] == "Bindings"}
    identities = {path[5] for path in binding_paths if len(path) > 5 and path[4] == "Users"}
    named_services = {path[3] for path in paths if len(path) == 4 and path[2] == "Services"}
    credentials = {path[3] for path in paths if len(path) == 4 and path[2] == "Credentials"}
    deleted = load_event(serving(template, DELETE_SERVICE))["pathParameters"]["Sid"]
    accounts = {event["requestContext"]["authorizer"]["lambda"]["accountSid"] for event in events}
    requests = [PurgeRequest.from_json(r["body"]) for r in purge["Records"]]

    assert services == {EVENT_SERVICE_SID}
    assert all(is_service_sid(sid) for sid in services)
    assert len(sids) == 1
    assert all(is_binding_sid(sid) for sid in sids)  # BS and 32 lowercase hex digits
    # The User events name the identity of the events' binding.
    assert identities == {EVENT_IDENTITY}
    # The Service events fetch and update the bindings' Service, and delete another one.
    assert named_services == {EVENT_SERVICE_SID, DELETED_SERVICE_SID}
    assert deleted == DELETED_SERVICE_SID
    # The Credential events fetch, update and delete the events' Credential.
    assert credentials == {EVENT_CREDENTIAL_SID}
    assert accounts == {EVENT_ACCOUNT_SID}
    assert parse_basic(authorizer["headers"]["authorization"]) == (
        EVENT_ACCOUNT_SID,
        EVENT_AUTH_TOKEN,
    )
    assert all(
        parse_basic(event["headers"].get("authorization")) == (EVENT_ACCOUNT_SID, EVENT_AUTH_TOKEN)
        for event in events
    )
    # The purge event delivers the message that the delete_service event's request sends.
    assert requests == [
        PurgeRequest(account_sid=EVENT_ACCOUNT_SID, service_sid=DELETED_SERVICE_SID)
    ]


@pytest.mark.parametrize("logical_id", ROUTED)
def test_given_a_route_functions_event_when_read_then_it_is_what_an_http_api_sends_for_its_route(
    template, logical_id
):
    function, event = event_of(template, logical_id)
    (route,) = function.routes
    context = event["requestContext"]
    headers = event["headers"]
    body = body_bytes(event)

    assert event["version"] == "2.0"
    assert event["routeKey"] == context["routeKey"] == route.route_key
    assert context["http"]["method"] == route.method or route.is_default
    assert context["http"]["path"] == event["rawPath"]
    assert context["stage"] == "$default"
    # API Gateway leaves pathParameters out when the route has none.
    assert event.get("pathParameters") == (route.match(event["rawPath"]) or None)
    assert context["requestId"]
    assert all(name == name.lower() for name in headers)
    assert headers["host"] == context["domainName"]
    assert context["domainName"].split(".")[0] == context["domainPrefix"] == context["apiId"]
    assert headers["x-forwarded-proto"] == "https"
    assert headers["user-agent"] == context["http"]["userAgent"]
    assert headers.get("x-forwarded-for") == context["http"]["sourceIp"]
    logged = datetime.strptime(context["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert int(logged.timestamp()) == context["timeEpoch"] // 1000
    assert int(headers.get("content-length", len(body))) == len(body)
    query = parse_qsl(event["rawQueryString"], keep_blank_values=True, strict_parsing=False)
    if query:  # API Gateway joins a repeated key's values with commas
        joined = {name: ",".join(v) for name, v in parse_qs(event["rawQueryString"]).items()}
        assert event["queryStringParameters"] == joined
    else:
        assert "queryStringParameters" not in event
    # What the simple-response authorizer said, as API Gateway passes it on.
    assert route.authorizer is not None
    assert context["authorizer"] == {"lambda": {"accountSid": EVENT_ACCOUNT_SID}}
    # The same shape as the events the local API builds for the same request.
    built = with_authorizer_context(
        http_api_event(
            route,
            event["rawPath"],
            method=context["http"]["method"],
            query=event["rawQueryString"],
            headers=headers,
            body=body,
        ),
        {"accountSid": EVENT_ACCOUNT_SID},
    )
    assert set(event) == set(built)
    assert set(context) == set(built["requestContext"])
    assert set(context["http"]) == set(built["requestContext"]["http"])
    assert event["isBase64Encoded"] == built["isBase64Encoded"]


@pytest.mark.parametrize("logical_id", AUTHORIZERS)
def test_given_the_authorizers_event_when_read_then_it_is_what_an_http_api_asks_about_a_request(
    template, logical_id
):
    _, event = event_of(template, logical_id)
    routes = guarded_by(template, logical_id)
    context = event["requestContext"]

    assert event["version"] == "2.0"
    assert event["type"] == "REQUEST"
    assert event["routeKey"] in routes  # a request that this authorizer runs before
    route = routes[event["routeKey"]]
    assert event["routeKey"] == context["routeKey"]
    assert event.get("pathParameters") == (route.match(event["rawPath"]) or None)
    assert event["routeArn"] == (
        f"arn:aws:execute-api:us-east-1:{context['accountId']}:{context['apiId']}/"
        f"{context['stage']}/{context['http']['method']}{event['rawPath']}"
    )
    # No identity source in the template: the authorizer runs for every request, and there are
    # no identity values to pass it.
    assert route.authorizer is not None
    assert route.authorizer.identity_headers == route.authorizer.identity_query_strings == ()
    assert event["identitySource"] == []
    assert "authorizer" not in context  # it is the one deciding
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["authorization"].startswith("Basic ")
    # The same shape as what the local API asks its authorizer about the same request.
    built = authorizer_event(
        http_api_event(
            route,
            event["rawPath"],
            method=context["http"]["method"],
            query=event["rawQueryString"],
            headers=event["headers"],
        )
    )
    assert set(event) == set(built)
    assert set(context) == set(built["requestContext"])


@pytest.mark.parametrize("logical_id", QUEUE_CONSUMERS)
def test_given_a_queue_consumers_event_when_read_then_it_is_what_lambda_delivers_from_its_queue(
    template, logical_id
):
    function, event = event_of(template, logical_id)
    (source,) = function.sqs_sources
    records = event["Records"]

    assert 1 <= len(records) <= source.batch_size
    for record in records:
        arn = record["eventSourceARN"]
        assert record["eventSource"] == "aws:sqs"
        assert re.fullmatch(rf"arn:aws:sqs:{record['awsRegion']}:\d{{12}}:[\w-]+", arn)
        assert source.queue in arn  # CloudFormation names a queue after its logical id
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
        assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1
        # The same shape as the events the local API builds from the queue's messages.
        message = {
            "MessageId": record["messageId"],
            "ReceiptHandle": record["receiptHandle"],
            "Body": record["body"],
            "Attributes": record["attributes"],
            "MD5OfBody": record["md5OfBody"],
        }
        (built,) = sqs_event([message], arn)["Records"]
        assert built == record


@pytest.mark.parametrize("logical_id", STREAM_CONSUMERS)
def test_given_a_stream_consumers_event_when_read_then_it_is_what_lambda_delivers_from_its_tables_stream(  # noqa: E501
    template, logical_id
):
    function, event = event_of(template, logical_id)
    (source,) = function.stream_sources
    view = template.tables[source.table]["StreamSpecification"]["StreamViewType"]
    records = event["Records"]

    assert 1 <= len(records) <= source.batch_size
    assert all(source.admits(record) for record in records)  # its mapping's filters let it in
    sequences = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
    assert sequences == sorted(set(sequences))  # in stream order, each once
    names = [record["eventName"] for record in records]
    assert set(names) <= {"INSERT", "MODIFY", "REMOVE"}
    for record in records:
        change = record["dynamodb"]
        assert record["eventSource"] == "aws:dynamodb"
        assert re.fullmatch(
            rf"arn:aws:dynamodb:{record['awsRegion']}:\d{{12}}:table/[\w-]+/stream/[\w:.-]+",
            record["eventSourceARN"],
        )
        assert source.table in record["eventSourceARN"]  # named after its logical id
        assert change["StreamViewType"] == view
        assert isinstance(change["ApproximateCreationDateTime"], int)  # epoch seconds
        assert ("NewImage" in change) == (record["eventName"] != "REMOVE")
        assert ("OldImage" in change) == (record["eventName"] != "INSERT")
        for image in (change.get("NewImage"), change.get("OldImage")):
            if image is not None:
                binding = binding_from(image)  # an address item of the bindings table
                assert binding.account_sid == EVENT_ACCOUNT_SID
                assert {name: image[name] for name in change["Keys"]} == change["Keys"]
    # A delete by DynamoDB's TTL names DynamoDB as the deleter, as its streams do.
    expiries = [record for record in records if "userIdentity" in record]
    assert [record["eventName"] for record in expiries] == ["REMOVE"]
    assert expiries[0]["userIdentity"] == {
        "type": "Service",
        "principalId": "dynamodb.amazonaws.com",
    }


@pytest.mark.parametrize("logical_id", STREAM_CONSUMERS)
def test_given_a_stream_consumers_event_when_it_is_invoked_with_it_then_no_record_fails(
    template, functions, event_bindings, logical_id
):
    _, event = event_of(template, logical_id)

    response = functions.invoke(logical_id, copy.deepcopy(event))

    assert response == {"batchItemFailures": []}


@pytest.mark.parametrize("operation", [CREATE, CREATE_SERVICE, UPDATE_SERVICE])
def test_given_a_form_event_when_read_then_its_form_body_is_base64_as_http_apis_send_it(
    template, operation
):
    event = load_event(serving(template, operation))

    form = parse_qs(body_bytes(event).decode(), strict_parsing=True)

    assert event["headers"]["content-type"] == FORM
    assert event["isBase64Encoded"] is True
    expected = {"Identity", "BindingType", "Address"} if operation == CREATE else {"FriendlyName"}
    assert expected <= set(form)


# -- the events invoked -----------------------------------------------------------------------


def arrange(template: SamTemplate, function: Function) -> None:
    """What a function's event needs beyond `event_bindings` (the purge event: a Service that
    its deletion left), as `make invoke` arranges it."""
    seed_event_fixtures(template, function.code_dir.name)


@pytest.mark.parametrize("logical_id", ROUTED)
def test_given_a_route_functions_event_when_the_function_is_invoked_with_it_then_it_succeeds(
    template, functions, event_bindings, logical_id
):
    function, event = event_of(template, logical_id)
    (route,) = function.routes
    arrange(template, function)

    response = functions.invoke(logical_id, copy.deepcopy(event))

    assert response["statusCode"] == SUCCESS[route.route_key], response["body"]


@pytest.mark.parametrize("logical_id", AUTHORIZERS)
def test_given_the_authorizers_event_when_it_is_invoked_with_it_then_it_proves_the_events_account(
    template, functions, event_bindings, logical_id
):
    _, event = event_of(template, logical_id)

    response = functions.invoke(logical_id, copy.deepcopy(event))

    assert response == {"isAuthorized": True, "context": {"accountSid": EVENT_ACCOUNT_SID}}


@pytest.mark.parametrize("logical_id", QUEUE_CONSUMERS)
def test_given_a_queue_consumers_event_when_it_is_invoked_with_it_then_no_message_fails(
    template, functions, event_bindings, logical_id
):
    function, event = event_of(template, logical_id)
    arrange(template, function)

    response = functions.invoke(logical_id, copy.deepcopy(event))

    assert response == {"batchItemFailures": []}


def test_given_the_fetch_event_when_invoked_then_it_returns_the_binding_it_names_on_the_apis_host(
    template, functions, event_bindings
):
    fetcher = serving(template, FETCH)
    event = load_event(fetcher)

    response = functions.invoke(fetcher.logical_id, copy.deepcopy(event))

    binding = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert binding["sid"] == event["pathParameters"]["Sid"]
    assert binding["account_sid"] == EVENT_ACCOUNT_SID
    assert binding["url"] == f"https://{event['headers']['host']}{event['rawPath']}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", binding["date_created"])


def test_given_the_list_event_when_invoked_then_its_page_holds_the_events_binding(
    template, functions, event_bindings
):
    lister = serving(template, LIST)

    response = functions.invoke(lister.logical_id, load_event(lister))

    listed = {binding["sid"] for binding in json.loads(response["body"])["bindings"]}
    assert response["statusCode"] == 200
    assert {binding.sid for binding in event_bindings} <= listed


def test_given_the_delete_event_when_invoked_then_the_binding_it_names_is_gone(
    template, functions, event_bindings
):
    deleter = serving(template, DELETE)
    event = load_event(deleter)
    service_sid, sid = event["pathParameters"]["ServiceSid"], event["pathParameters"]["Sid"]

    response = functions.invoke(deleter.logical_id, copy.deepcopy(event))

    assert response["statusCode"] == 204
    assert dependencies.binding_store().get(EVENT_ACCOUNT_SID, service_sid, sid) is None


def test_given_the_user_events_when_invoked_then_they_show_the_identity_of_the_events_binding(
    template, functions, event_bindings
):
    fetcher, lister = serving(template, FETCH_USER), serving(template, LIST_USERS)
    binding_lister = serving(template, LIST_USER_BINDINGS)
    event = load_event(fetcher)

    fetched = functions.invoke(fetcher.logical_id, copy.deepcopy(event))
    listed = functions.invoke(lister.logical_id, load_event(lister))
    bindings = functions.invoke(binding_lister.logical_id, load_event(binding_lister))

    user = json.loads(fetched["body"])
    assert fetched["statusCode"] == 200
    assert user["identity"] == EVENT_IDENTITY
    assert user["binding_count"] == len(event_bindings)
    assert user["url"] == f"https://{event['headers']['host']}{event['rawPath']}"
    assert listed["statusCode"] == 200
    assert EVENT_IDENTITY in {u["identity"] for u in json.loads(listed["body"])["users"]}
    assert bindings["statusCode"] == 200
    listed_sids = {b["sid"] for b in json.loads(bindings["body"])["bindings"]}
    assert listed_sids == {binding.sid for binding in event_bindings}


def test_given_the_delete_user_event_when_invoked_then_every_binding_of_the_identity_is_gone(
    template, functions, event_bindings
):
    deleter = serving(template, DELETE_USER)

    response = functions.invoke(deleter.logical_id, load_event(deleter))

    assert response["statusCode"] == 204
    store = dependencies.binding_store()
    assert all(
        store.get(EVENT_ACCOUNT_SID, binding.service_sid, binding.sid) is None
        for binding in event_bindings
    )
    assert store.get_user(EVENT_ACCOUNT_SID, EVENT_SERVICE_SID, EVENT_IDENTITY) is None


def test_given_the_service_events_when_invoked_then_they_fetch_and_list_the_events_service(
    template, functions, event_bindings
):
    fetcher, lister = serving(template, FETCH_SERVICE), serving(template, LIST_SERVICES)
    event = load_event(fetcher)

    fetched = functions.invoke(fetcher.logical_id, copy.deepcopy(event))
    listed = functions.invoke(lister.logical_id, load_event(lister))

    service = json.loads(fetched["body"])
    assert fetched["statusCode"] == 200
    assert service["sid"] == EVENT_SERVICE_SID
    assert service["account_sid"] == EVENT_ACCOUNT_SID
    assert service["url"] == f"https://{event['headers']['host']}{event['rawPath']}"
    assert listed["statusCode"] == 200
    assert EVENT_SERVICE_SID in {s["sid"] for s in json.loads(listed["body"])["services"]}


def test_given_the_delete_service_event_when_invoked_then_the_service_is_gone_at_once(
    template, functions, event_bindings
):
    deleter = serving(template, DELETE_SERVICE)
    assert dependencies.service_store().get(EVENT_ACCOUNT_SID, DELETED_SERVICE_SID) is not None

    response = functions.invoke(deleter.logical_id, load_event(deleter))

    assert response["statusCode"] == 204
    assert dependencies.service_store().get(EVENT_ACCOUNT_SID, DELETED_SERVICE_SID) is None


def test_given_the_purge_event_when_invoked_then_the_deleted_service_and_its_bindings_are_gone(
    template, functions, event_bindings
):
    (purger,) = (
        template.functions[name]
        for name in QUEUE_CONSUMERS
        if template.functions[name].code_dir.name == PURGE_SERVICE
    )
    for binding in (
        new_binding(DELETED_SERVICE_SID, "alice", "device-1", account_sid=EVENT_ACCOUNT_SID),
        new_binding(
            DELETED_SERVICE_SID,
            "bob",
            "+15550000001",
            account_sid=EVENT_ACCOUNT_SID,
            binding_type=BindingType.SMS,
            tags=("premium",),
        ),
    ):
        put_binding(dependencies.binding_store(), binding)
    arrange(template, purger)  # deleted, with a binding of the fixtures' besides
    assert dependencies.service_store().get(EVENT_ACCOUNT_SID, DELETED_SERVICE_SID) is None
    assert items_of(DELETED_SERVICE_SID) != []

    response = functions.invoke(purger.logical_id, load_event(purger))

    assert response == {"batchItemFailures": []}
    assert items_of(DELETED_SERVICE_SID) == []


def test_given_the_dead_token_events_when_read_then_they_report_the_address_of_the_events_binding(
    template,
):
    report = load_event(serving(template, REPORT_DEAD_TOKEN))
    (consumer,) = (
        template.functions[name]
        for name in QUEUE_CONSUMERS
        if template.functions[name].code_dir.name == "report_dead_tokens"
    )
    sid = load_event(serving(template, FETCH))["pathParameters"]["Sid"]
    address = fixture_address(sid)  # as event_bindings stores it

    form = parse_qs(body_bytes(report).decode(), strict_parsing=True)
    messages = [json.loads(record["body"]) for record in load_event(consumer)["Records"]]

    assert report["headers"]["content-type"] == FORM
    assert form == {"Address": [address], "BindingSid": [sid], "Reason": ["unregistered"]}
    assert {message["account_sid"] for message in messages} == {EVENT_ACCOUNT_SID}
    assert {message["service_sid"] for message in messages} == {EVENT_SERVICE_SID}
    assert messages[0] == {
        "account_sid": EVENT_ACCOUNT_SID,
        "service_sid": EVENT_SERVICE_SID,
        "address": address,
        "binding_sid": sid,
        "reason": "unregistered",
    }
    assert address not in {message["address"] for message in messages[1:]}


@pytest.mark.parametrize("operation", ["report_dead_token", "report_dead_tokens"])
def test_given_a_dead_token_event_when_invoked_then_the_events_binding_is_removed(
    template, functions, event_bindings, operation
):
    (function,) = (f for f in template.functions.values() if f.code_dir.name == operation)
    (binding,) = event_bindings

    response = functions.invoke(function.logical_id, load_event(function))

    if function.routes:
        assert response["statusCode"] == 200, response["body"]
        assert json.loads(response["body"])["binding_sid"] == binding.sid
    else:
        assert response == {"batchItemFailures": []}
    store = dependencies.binding_store()
    assert store.get(EVENT_ACCOUNT_SID, EVENT_SERVICE_SID, binding.sid) is None
