"""openapi.json: generated from template.yaml, Twilio's document and the layer's models, up to
date, valid, Twilio's wire where Twilio has one, our limits and errors on top, and served by
the local API to anyone."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from local_api.openapi import (
    EXTENSION,
    EXTENSION_OPERATIONS,
    OUTPUT,
    TWILIO_DOCUMENT,
    generate,
    main,
    render,
)
from local_api.template import SamTemplate
from notify_bindings.domain.bindings import (
    MAX_IDENTITY_FILTERS,
    MAX_TAG_FILTERS,
    MAX_TAGS_PER_BINDING,
)
from tests.conformance.support import Target

HTTP_METHODS = ("get", "post", "delete", "put", "patch")
ERROR_STATUSES = ("400", "401", "404", "405", "429", "503")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return generate()


@pytest.fixture(scope="module")
def twilio() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(TWILIO_DOCUMENT.read_text())
    return loaded


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def form_fields(operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    properties: dict[str, Any] = (
        content.get("application/x-www-form-urlencoded", {}).get("schema", {}).get("properties", {})
    )
    return properties


def query(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


def test_given_the_generator_then_the_committed_openapi_json_is_what_it_writes():
    assert OUTPUT.read_text() == render(generate()), "openapi.json is stale: run `make openapi`"
    assert main(["--check"]) == 0


def test_given_a_stale_file_when_checked_then_it_says_so(tmp_path, capsys):
    stale = tmp_path / "openapi.json"
    stale.write_text(OUTPUT.read_text().replace('"notify-bindings"', '"renamed"'))

    assert main(["--check", "--output", str(stale)]) == 1
    assert "make openapi" in capsys.readouterr().err


def test_given_the_document_then_it_is_valid_openapi_3(document):
    validate(copy.deepcopy(document))


def test_given_the_template_then_the_document_has_exactly_its_routes(document):
    routes = {
        (route.method, route.path) for route in SamTemplate.load().routes if not route.is_default
    }

    assert set(operations(document)) == routes


def without_extensions(value: Any) -> Any:
    """`value` without anything marked as ours: Twilio's part of it."""
    if isinstance(value, dict):
        return {
            key: without_extensions(item)
            for key, item in value.items()
            if not (isinstance(item, dict) and item.get(EXTENSION))
        }
    if isinstance(value, list):
        return [
            without_extensions(item)
            for item in value
            if not (isinstance(item, dict) and item.get(EXTENSION))
        ]
    return value


def test_given_twilios_operations_then_ours_keep_their_names_parameters_and_responses(
    document, twilio
):
    theirs = operations(twilio)
    for key, ours in without_extensions(operations(document)).items():
        twilio_operation = theirs[key]
        assert ours["operationId"] == twilio_operation["operationId"]
        assert [p["name"] for p in ours.get("parameters", [])] == [
            p["name"] for p in twilio_operation.get("parameters", [])
        ]
        assert list(form_fields(ours)) == list(form_fields(twilio_operation))
        for status, response in twilio_operation["responses"].items():
            assert ours["responses"][status].get("content") == response.get("content"), key
    for name, schema in without_extensions(document["components"]["schemas"]).items():
        if name in twilio["components"]["schemas"]:
            assert schema == twilio["components"]["schemas"][name]


# What is ours, not Twilio's: (method, path) of operations; (operationId, name) of parameters
# and form fields; (schema, property) of response properties.
OUR_OPERATIONS = {
    ("GET", "/v1/Services/{ServiceSid}/Users"),
    ("GET", "/v1/Services/{ServiceSid}/Users/{Identity}"),
    ("GET", "/v1/Services/{ServiceSid}/Users/{Identity}/Bindings"),
    ("DELETE", "/v1/Services/{ServiceSid}/Users/{Identity}"),
    ("POST", "/v1/Services/{ServiceSid}/DeadTokens"),
    ("GET", "/v1/Services/{ServiceSid}/Notifications/{Sid}"),
}
OUR_PARAMETERS = {
    ("ListBinding", "Address"),
    ("CreateService", "IdentityBindingLimitPolicy"),
    ("UpdateService", "IdentityBindingLimitPolicy"),
    ("CreateService", "BindingTtlDays"),
    ("UpdateService", "BindingTtlDays"),
    ("CreateService", "SmsCredentialSid"),
    ("UpdateService", "SmsCredentialSid"),
    *(
        (operation, name)
        for operation in ("CreateCredential", "UpdateCredential")
        for name in ("ApnKeyId", "ApnTeamId", "ApnTopic")
    ),
}
OUR_PROPERTIES = {
    ("notify.v1.service", "identity_binding_limit_policy"),
    ("notify.v1.service", "binding_ttl_days"),
    ("notify.v1.service", "sms_credential_sid"),
}


def test_given_the_document_then_exactly_what_twilio_lacks_is_marked_and_said_to_be_ours(
    document, twilio
):
    theirs = operations(twilio)
    marked_operations = set()
    marked_parameters = set()
    for key, operation in operations(document).items():
        if operation.get(EXTENSION):
            marked_operations.add(key)
            assert "not in Twilio's Notify" in operation["description"], key
            assert key not in theirs
            continue
        assert key in theirs
        fields = [
            (name, schema)
            for name, schema in form_fields(operation).items()
            if schema.get(EXTENSION)
        ]
        fields += [(p["name"], p) for p in operation.get("parameters", []) if p.get(EXTENSION)]
        for name, described in fields:
            marked_parameters.add((operation["operationId"], name))
            text = json.dumps(described)
            assert "not in Twilio's Notify" in text, (key, name)
    marked_properties = {
        (schema_name, name)
        for schema_name, schema in document["components"]["schemas"].items()
        for name, property_schema in schema.get("properties", {}).items()
        if property_schema.get(EXTENSION)
    }

    assert marked_operations == OUR_OPERATIONS
    assert marked_parameters == OUR_PARAMETERS
    assert marked_properties == OUR_PROPERTIES
    user = document["components"]["schemas"]["notify-bindings.user"]
    assert user[EXTENSION] is True
    assert "binding_count" in user["required"]


def test_given_the_users_operations_then_their_limits_are_the_models(document):
    ops = operations(document)
    users = query(ops["GET", "/v1/Services/{ServiceSid}/Users"])
    user_bindings = ops["GET", "/v1/Services/{ServiceSid}/Users/{Identity}/Bindings"]
    (identity,) = [p for p in user_bindings["parameters"] if p["name"] == "Identity"]

    assert users["PageToken"]["schema"]["maxLength"] == 2048  # a key token holds an identity
    assert "taken as 1000" in users["PageSize"]["description"]
    assert "Identity" not in query(user_bindings)
    assert query(user_bindings)["Tag"]["schema"]["maxItems"] == MAX_TAG_FILTERS
    assert query(user_bindings)["Address"]["schema"]["maxLength"] == 512
    assert (identity["in"], identity["schema"]["maxLength"]) == ("path", 256)
    assert set(ops["DELETE", "/v1/Services/{ServiceSid}/Users/{Identity}"]["responses"]) == {
        "204",
        "401",
        "404",
        "429",
        "503",
    }


def test_given_design_limits_then_the_document_states_them(document):
    ops = operations(document)
    create = form_fields(ops["POST", "/v1/Services/{ServiceSid}/Bindings"])
    listing = query(ops["GET", "/v1/Services/{ServiceSid}/Bindings"])
    service = form_fields(ops["POST", "/v1/Services"])

    assert create["Tag"]["maxItems"] == MAX_TAGS_PER_BINDING == 20
    assert (create["Tag"]["items"]["minLength"], create["Tag"]["items"]["maxLength"]) == (1, 64)
    assert (create["Identity"]["minLength"], create["Identity"]["maxLength"]) == (1, 256)
    assert (create["Address"]["minLength"], create["Address"]["maxLength"]) == (1, 512)
    assert create["Identity"]["pattern"] == "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    assert "normalization form C" in create["Identity"]["description"]
    assert listing["Tag"]["schema"]["maxItems"] == MAX_TAG_FILTERS == 5
    assert listing["Identity"]["schema"]["maxItems"] == MAX_IDENTITY_FILTERS
    assert listing["PageToken"]["schema"]["maxLength"] == 1024
    page_size = listing["PageSize"]
    assert "maximum" not in page_size["schema"]  # clamped to 1000, not refused
    assert "taken as 1000" in page_size["description"]
    assert service["FriendlyName"]["anyOf"][0]["maxLength"] == 64
    assert {"type": "string", "enum": [""]} in service["FriendlyName"]["anyOf"]
    callback = service["DeliveryCallbackUrl"]["anyOf"][0]
    assert callback["pattern"].startswith("^https?://")


def test_given_each_operation_then_its_errors_are_twilios_json(document):
    components = document["components"]
    error = components["schemas"]["twilio.error"]
    assert error["required"] == ["code", "message", "more_info", "status"]
    assert error["additionalProperties"] is False
    assert set(components["responses"]) == set(ERROR_STATUSES)
    for response in components["responses"].values():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/twilio.error"}
    for (method, path), operation in operations(document).items():
        documented = set(operation["responses"])
        assert {"401", "429", "503"} <= documented
        assert ("404" in documented) == ("{" in path)
        takes_input = "requestBody" in operation or bool(query(operation))
        assert ("400" in documented) == takes_input, (method, path)
        assert operation["security"] == [{"accountSid_authToken": []}]


def test_given_the_document_then_basic_auth_and_the_local_server(document):
    scheme = document["components"]["securitySchemes"]["accountSid_authToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "basic")
    assert document["servers"][0]["url"] == "http://127.0.0.1:3000"
    assert all("servers" not in item for item in document["paths"].values())


def test_given_a_route_no_document_describes_then_generation_refuses(monkeypatch):
    template = _with_extra_route()

    with pytest.raises(ValueError, match="GET /v1/Things: a route of the template"):
        generate(template)


def test_given_an_extension_operation_then_it_is_documented_with_our_errors(monkeypatch):
    monkeypatch.setitem(
        EXTENSION_OPERATIONS,
        "GET /v1/Things",
        lambda: {"operationId": "ListThings", "responses": {"200": {"description": "OK"}}},
    )

    document = generate(_with_extra_route())

    thing = document["paths"]["/v1/Things"]["get"]
    assert set(thing["responses"]) == {"200", "401", "429", "503"}
    assert thing["security"] == [{"accountSid_authToken": []}]


def _with_extra_route() -> SamTemplate:
    template = SamTemplate.load()
    raw = copy.deepcopy(template.document)
    function = copy.deepcopy(raw["Resources"]["ListServicesFunction"])
    function["Properties"]["Events"] = {
        "List": {"Type": "HttpApi", "Properties": {"Method": "GET", "Path": "/v1/Things"}}
    }
    raw["Resources"]["ListThingsFunction"] = function
    return SamTemplate(raw, template.root)


def test_given_no_credentials_when_the_local_api_is_asked_then_it_serves_the_document(
    conformance_target: Target,
):
    reply = conformance_target.http.get(f"{conformance_target.url}/openapi.json", timeout=30)

    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json"
    served = reply.json()
    assert served["servers"] == [{"url": conformance_target.url}]
    assert {**served, "servers": None} == {**json.loads(OUTPUT.read_text()), "servers": None}


def test_given_the_documents_limit_on_binding_ttl_days_then_it_is_the_layers():
    from local_api import openapi
    from notify_bindings.domain.services import MAX_BINDING_TTL_DAYS

    assert openapi.MAX_BINDING_TTL_DAYS == MAX_BINDING_TTL_DAYS
