"""The sample events in events/, one per function, named after its operation: each is what an
API Gateway HTTP API (payload format 2.0) sends for the function's route, and invoking the
function with it - as `sam local invoke <Function> -e events/<operation>.json` does - succeeds.

The events share one fixed Service, which no other test uses. The fetch and delete events name a
fixed binding; `event_bindings` puts it back before each test, so the order of tests and any
earlier delete do not matter.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import pytest

from local_api.events import http_api_event
from local_api.runtime import LocalFunctions
from local_api.template import PROJECT_ROOT, Function, SamTemplate
from notify_bindings import dependencies
from notify_bindings.models import DEFAULT_PROTOCOL_VERSION, Binding, BindingType
from notify_bindings.sids import is_binding_sid, is_service_sid

EVENTS_DIR = PROJECT_ROOT / "events"
FORM = "application/x-www-form-urlencoded"
CREATE = "POST /v1/Services/{ServiceSid}/Bindings"
LIST = "GET /v1/Services/{ServiceSid}/Bindings"
FETCH = "GET /v1/Services/{ServiceSid}/Bindings/{Sid}"
DELETE = "DELETE /v1/Services/{ServiceSid}/Bindings/{Sid}"
UNMATCHED = "$default"
# The contract: what each route answers to its sample event. The $default route's event is a
# POST to a binding, which Twilio has no route for, so its answer is 405.
SUCCESS = {CREATE: 201, LIST: 200, FETCH: 200, DELETE: 204, UNMATCHED: 405}
# Who the bindings named by the events belong to; the list event selects them.
EVENT_IDENTITY = "alice"
EVENT_TAG = "premium"

FUNCTIONS = sorted(SamTemplate.load().functions)


def event_path(function: Function) -> Path:
    return EVENTS_DIR / f"{function.code_dir.name}.json"


def load_event(function: Function) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(event_path(function).read_text())
    return event


def serving(template: SamTemplate, route_key: str) -> Function:
    (function,) = (
        f for f in template.functions.values() if route_key in {r.route_key for r in f.routes}
    )
    return function


def event_of(template: SamTemplate, logical_id: str) -> tuple[Function, dict[str, Any]]:
    function = template.functions[logical_id]
    return function, load_event(function)


def body_bytes(event: dict[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    return base64.b64decode(body, validate=True) if event["isBase64Encoded"] else body.encode()


@pytest.fixture
def event_bindings(template: SamTemplate, functions: LocalFunctions) -> list[Binding]:
    """The bindings that the events name by SID, present in the store with exactly those SIDs.

    Putting a binding identical to the live one changes nothing, so this holds whether an earlier
    test created it, deleted it or never touched it.
    """
    named = {
        (event["pathParameters"]["ServiceSid"], event["pathParameters"]["Sid"])
        for event in (load_event(function) for function in template.functions.values())
        if "Sid" in event.get("pathParameters", {})
    }
    bindings = []
    for service_sid, sid in sorted(named):
        binding = Binding(
            sid=sid,
            account_sid=dependencies.settings().account_sid,
            service_sid=service_sid,
            identity=EVENT_IDENTITY,
            binding_type=BindingType.APN,
            address=hashlib.sha256(sid.encode()).hexdigest(),  # an APNs-like device token
            tags=(EVENT_TAG,),
            credential_sid=None,
            notification_protocol_version=DEFAULT_PROTOCOL_VERSION,
            # SIDs begin with their creation time in milliseconds.
            date_created=datetime.fromtimestamp(int(sid[2:14], 16) / 1000, UTC),
        )
        stored = dependencies.binding_store().put(binding).binding
        assert stored.sid == sid, "another binding holds the address of the events' binding"
        bindings.append(stored)
    return bindings


def test_given_the_template_when_events_are_listed_then_there_is_exactly_one_per_function(
    template,
):
    operations = [function.code_dir.name for function in template.functions.values()]

    events = sorted(path.stem for path in EVENTS_DIR.glob("*.json"))

    assert events == sorted(operations)
    assert len(set(operations)) == len(operations)


def test_given_the_events_when_read_then_they_share_one_fixed_service_and_name_one_binding(
    template,
):
    events = [load_event(function) for function in template.functions.values()]
    paths = [event["rawPath"].split("/") for event in events]

    services = {path[3] for path in paths}
    sids = {path[5] for path in paths if len(path) > 5}

    assert len(services) == 1
    assert all(is_service_sid(sid) for sid in services)
    assert len(sids) == 1
    assert all(is_binding_sid(sid) for sid in sids)  # BS and 32 lowercase hex digits


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_given_a_functions_event_when_read_then_it_is_what_an_http_api_sends_for_its_route(
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
    assert event.get("pathParameters") == route.match(event["rawPath"])
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
    # The same shape as the events the local API builds for the same request.
    built = http_api_event(
        route,
        event["rawPath"],
        method=context["http"]["method"],
        query=event["rawQueryString"],
        headers=headers,
        body=body,
    )
    assert set(event) == set(built)
    assert set(context) == set(built["requestContext"])
    assert set(context["http"]) == set(built["requestContext"]["http"])
    assert event["isBase64Encoded"] == built["isBase64Encoded"]


def test_given_the_create_event_when_read_then_its_form_body_is_base64_as_http_apis_send_it(
    template,
):
    event = load_event(serving(template, CREATE))

    form = parse_qs(body_bytes(event).decode(), strict_parsing=True)

    assert event["headers"]["content-type"] == FORM
    assert event["isBase64Encoded"] is True
    assert {"Identity", "BindingType", "Address"} <= set(form)


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_given_a_functions_event_when_the_function_is_invoked_with_it_then_it_succeeds(
    template, functions, event_bindings, logical_id
):
    function, event = event_of(template, logical_id)
    (route,) = function.routes

    response = functions.invoke(logical_id, copy.deepcopy(event))

    assert response["statusCode"] == SUCCESS[route.route_key], response["body"]


def test_given_the_fetch_event_when_invoked_then_it_returns_the_binding_it_names_on_the_apis_host(
    template, functions, event_bindings
):
    fetcher = serving(template, FETCH)
    event = load_event(fetcher)

    response = functions.invoke(fetcher.logical_id, copy.deepcopy(event))

    binding = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert binding["sid"] == event["pathParameters"]["Sid"]
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
    assert dependencies.binding_store().get(service_sid, sid) is None
