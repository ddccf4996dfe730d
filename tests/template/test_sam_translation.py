"""The CloudFormation that `sam deploy` would create from template.yaml, translated offline:
functions and layer, routes and their authorizer, tables, the purge queue, throttling and outputs.

The runtime, architecture and routes are the contract (design.md) and are written out here;
everything else is read from the template itself. The last test breaks a copy of the template
in each way these checks guard against and shows that they notice.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from local_api.template import SamTemplate

Document = dict[str, Any]

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
# Route key -> the operation serving it (its handler is functions/<operation>/).
CONTRACT_ROUTES = {
    "POST /v1/Services": "create_service",
    "GET /v1/Services": "list_services",
    "GET /v1/Services/{Sid}": "fetch_service",
    "POST /v1/Services/{Sid}": "update_service",
    "DELETE /v1/Services/{Sid}": "delete_service",
    "POST /v1/Services/{ServiceSid}/Bindings": "create_binding",
    "GET /v1/Services/{ServiceSid}/Bindings": "list_bindings",
    "GET /v1/Services/{ServiceSid}/Bindings/{Sid}": "fetch_binding",
    "DELETE /v1/Services/{ServiceSid}/Bindings/{Sid}": "delete_binding",
    # Ours: Twilio's Binding JSON links to Users, which Twilio itself no longer serves.
    "GET /v1/Services/{ServiceSid}/Users": "list_users",
    "GET /v1/Services/{ServiceSid}/Users/{Identity}": "fetch_user",
    "GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings": "list_user_bindings",
    "DELETE /v1/Services/{ServiceSid}/Users/{Identity}": "delete_user",
    # Ours: dead-token feedback (in bulk, DeadTokenQueue feeds report_dead_tokens).
    "POST /v1/Services/{ServiceSid}/DeadTokens": "report_dead_token",
    "POST /v1/Services/{ServiceSid}/Notifications": "create_notification",
    # Ours: a notification with what became of its deliveries.
    "GET /v1/Services/{ServiceSid}/Notifications/{Sid}": "fetch_notification",
    "POST /v1/Credentials": "create_credential",
    "GET /v1/Credentials": "list_credentials",
    "GET /v1/Credentials/{Sid}": "fetch_credential",
    "POST /v1/Credentials/{Sid}": "update_credential",
    "DELETE /v1/Credentials/{Sid}": "delete_credential",
    # Everything else: Twilio's 404/405 error JSON rather than API Gateway's own.
    "$default": "unmatched_route",
}
# What an integration invokes, as SAM writes it into its URI: ${<the function's alias>}.
_INVOKED = re.compile(r"\$\{(\w+)\}/invocations")


def of_type(document: Document, kind: str) -> dict[str, Document]:
    return {name: r for name, r in document["Resources"].items() if r["Type"] == kind}


def alias_of(source: Document, translated: Document, function: str) -> str:
    """The logical id of the alias that AutoPublishAlias (Globals) gives `function`: what the
    routes, the authorizer, the queues and the streams invoke, so that SnapStart can apply."""
    name = source["Globals"]["Function"].get("AutoPublishAlias")
    assert name is not None, "no function is published behind an alias"
    aliases = {
        logical_id: alias["Properties"]
        for logical_id, alias in of_type(translated, "AWS::Lambda::Alias").items()
        if alias["Properties"]["FunctionName"] == {"Ref": function}
    }
    assert [alias["Name"] for alias in aliases.values()] == [name], function
    ((logical_id, alias),) = aliases.items()
    version = alias["FunctionVersion"]["Fn::GetAtt"][0]
    assert translated["Resources"][version]["Type"] == "AWS::Lambda::Version", function
    assert translated["Resources"][version]["Properties"]["FunctionName"] == {"Ref": function}
    return logical_id


def parameter_default(document: Document, value: Any) -> Any:
    """`value`, or the default of the parameter it references."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return document["Parameters"][value["Ref"]]["Default"]
    return value


# -- checks, each over the source template and its translation ---------------------------


def check_functions(source: Document, translated: Document) -> None:
    """Every function: a Lambda function on the runtime and architecture, using the layer."""
    functions = of_type(source, "AWS::Serverless::Function")
    (layer_id,) = of_type(source, "AWS::Serverless::LayerVersion")
    (layer_version,) = (
        name
        for name in of_type(translated, "AWS::Lambda::LayerVersion")
        if name.startswith(layer_id)
    )
    assert functions
    for name in functions:
        function = translated["Resources"][name]
        assert function["Type"] == "AWS::Lambda::Function", name
        properties = function["Properties"]
        assert properties["Runtime"] == RUNTIME, name
        assert properties["Architectures"] == [ARCHITECTURE], name
        assert properties.get("Layers") == [{"Ref": layer_version}], name


def check_layer(source: Document, translated: Document) -> None:
    """The layer is built for the functions' architecture and runtime, and says so."""
    ((layer_id, layer),) = of_type(source, "AWS::Serverless::LayerVersion").items()
    # Without BuildArchitecture, `sam build` silently installs x86_64 wheels (pydantic-core).
    assert layer.get("Metadata", {}).get("BuildArchitecture") == ARCHITECTURE
    # Built by its own Makefile, which ships byte-code (test_layer_build.py builds it).
    assert layer["Metadata"].get("BuildMethod") == "makefile"
    (built,) = (
        resource
        for name, resource in of_type(translated, "AWS::Lambda::LayerVersion").items()
        if name.startswith(layer_id)
    )
    assert built["Properties"]["CompatibleArchitectures"] == [ARCHITECTURE]
    assert built["Properties"]["CompatibleRuntimes"] == [RUNTIME]


def api_routes(translated: Document) -> dict[str, Document]:
    """Route key -> API Gateway integration, from the HTTP API's OpenAPI body."""
    (api,) = of_type(translated, "AWS::ApiGatewayV2::Api").values()
    return {
        "$default"
        if operation.get("isDefaultRoute")
        else f"{method.upper()} {path}": operation.get("x-amazon-apigateway-integration", {})
        for path, operations in api["Properties"]["Body"]["paths"].items()
        for method, operation in operations.items()
    }


def check_routes(source: Document, translated: Document) -> None:
    """Exactly the contract's routes, each a Lambda proxy (payload 2.0) to the function that
    local_api.template says serves it - the one with that operation's code - which API Gateway
    may invoke."""
    template = SamTemplate(source)
    served_by = {route.route_key: route.function for route in template.routes}
    routes = api_routes(translated)
    assert set(routes) == set(CONTRACT_ROUTES)
    assert set(served_by) == set(CONTRACT_ROUTES)
    for route_key, operation in CONTRACT_ROUTES.items():
        assert template.functions[served_by[route_key]].code_dir.name == operation, route_key
    permissions = of_type(translated, "AWS::Lambda::Permission").values()
    for route_key, integration in routes.items():
        assert integration["type"] == "aws_proxy", route_key
        assert integration["payloadFormatVersion"] == "2.0", route_key
        alias = alias_of(source, translated, served_by[route_key])
        assert _INVOKED.findall(integration["uri"]["Fn::Sub"]) == [alias], route_key
        if route_key == "$default":
            invoked_as = "/*"  # any method on any path
        else:
            method, path = route_key.split(" ", 1)
            invoked_as = "/" + method + re.sub(r"\{\w+\}", "*", path)
        assert any(
            permission["Properties"]["FunctionName"] == {"Ref": alias}
            and permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
            and permission["Properties"]["SourceArn"]["Fn::Sub"][0].endswith(invoked_as)
            for permission in permissions
        ), f"API Gateway may not invoke {served_by[route_key]} for {route_key}"


def check_tables(source: Document, translated: Document) -> None:
    """On-demand, recoverable, encrypted, protected from deletion and kept with the stack."""
    tables = of_type(translated, "AWS::DynamoDB::Table")
    assert set(tables) == set(of_type(source, "AWS::DynamoDB::Table"))
    assert len(tables) == 5  # bindings, their index, Services, accounts, notifications
    for name, table in tables.items():
        properties = table["Properties"]
        recovery = properties.get("PointInTimeRecoverySpecification", {})
        assert properties.get("BillingMode") == "PAY_PER_REQUEST", name
        assert recovery.get("PointInTimeRecoveryEnabled") is True, name
        assert properties.get("SSESpecification", {}).get("SSEEnabled") is True, name
        assert properties.get("DeletionProtectionEnabled") is True, name
        assert table.get("DeletionPolicy") == "Retain", name
        assert table.get("UpdateReplacePolicy") == "Retain", name


def check_bindings_table_keys(source: Document, translated: Document) -> None:
    """Keyed by Service and address, with a GSI ByIdentity on the identity."""
    properties = translated["Resources"]["BindingsTable"]["Properties"]
    defined = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    assert properties["KeySchema"] == [
        {"AttributeName": "ServiceSid", "KeyType": "HASH"},
        {"AttributeName": "Address", "KeyType": "RANGE"},
    ]
    indexes = properties.get("GlobalSecondaryIndexes", [])
    by_identity = next((i for i in indexes if i["IndexName"] == "ByIdentity"), None)
    assert by_identity is not None, "no GSI ByIdentity"
    keys = {key["KeyType"]: key["AttributeName"] for key in by_identity["KeySchema"]}
    assert "Identity" in keys["HASH"]
    assert defined[keys["HASH"]] == "S"


def check_throttling(source: Document, translated: Document) -> None:
    """Every stage of the HTTP API throttles every route by default."""
    (api_id,) = of_type(translated, "AWS::ApiGatewayV2::Api")
    stages = [
        stage["Properties"]
        for stage in of_type(translated, "AWS::ApiGatewayV2::Stage").values()
        if stage["Properties"]["ApiId"] == {"Ref": api_id}
    ]
    assert stages
    for stage in stages:
        settings = stage.get("DefaultRouteSettings", {})
        rate = parameter_default(translated, settings.get("ThrottlingRateLimit"))
        burst = parameter_default(translated, settings.get("ThrottlingBurstLimit"))
        assert isinstance(rate, int | float), stage
        assert rate > 0
        assert isinstance(burst, int | float), stage
        assert burst > 0


def check_authorizer(source: Document, translated: Document) -> None:
    """Every route, $default included, runs the Lambda authorizer first: payload 2.0, simple
    responses, no identity source (so that API Gateway never answers a request without
    credentials itself) and no caching of its answers (ReauthorizeEvery 0), and API Gateway may
    invoke it."""
    ((api_id, api),) = of_type(source, "AWS::Serverless::HttpApi").items()
    auth = api["Properties"].get("Auth", {})
    name = auth.get("DefaultAuthorizer")
    assert name is not None, "the HTTP API has no DefaultAuthorizer"
    spec = auth["Authorizers"][name]
    function = str(spec["FunctionArn"].get("Ref", "")).removesuffix(".Alias")
    assert spec["FunctionArn"] == {"Ref": f"{function}.Alias"}, "it invokes no alias"
    assert of_type(source, "AWS::Serverless::Function").get(function), function
    assert str(spec.get("AuthorizerPayloadFormatVersion")) == "2.0"
    assert spec.get("EnableSimpleResponses") is True
    assert spec.get("Identity", {}).get("ReauthorizeEvery") == 0
    assert not spec.get("Identity", {}).get("Headers")
    assert not spec.get("Identity", {}).get("QueryStrings")
    template = SamTemplate(source)
    for route in template.routes:
        assert route.authorizer is not None, f"{route.route_key} runs no authorizer"
        assert route.authorizer.function == function, route.route_key

    (translated_api,) = of_type(translated, "AWS::ApiGatewayV2::Api").values()
    body = translated_api["Properties"]["Body"]
    scheme = body["components"]["securitySchemes"][name]["x-amazon-apigateway-authorizer"]
    assert scheme["type"] == "request"
    alias = alias_of(source, translated, function)
    assert scheme["authorizerUri"]["Fn::Sub"][1] == {"__FunctionArn__": {"Ref": alias}}
    assert scheme["authorizerPayloadFormatVersion"] == "2.0"
    assert scheme["enableSimpleResponses"] is True
    assert scheme.get("identitySource", []) == []
    assert scheme.get("authorizerResultTtlInSeconds") == 0
    operations = [
        (path, method, operation)
        for path, methods in body["paths"].items()
        for method, operation in methods.items()
    ]
    for path, method, operation in operations:
        assert operation.get("security") == [{name: []}], f"{method} {path}"
    assert any(
        permission["Properties"]["FunctionName"] == {"Ref": alias}
        and permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and permission["Properties"]["SourceArn"]["Fn::Sub"][0].endswith("/authorizers/*")
        and permission["Properties"]["SourceArn"]["Fn::Sub"][1]["__ApiId__"] == {"Ref": api_id}
        for permission in of_type(translated, "AWS::Lambda::Permission").values()
    ), f"API Gateway may not invoke {function}"


def check_purge_queue(source: Document, translated: Document) -> None:
    """Every SQS event source reports batch item failures (so that one failed message is not
    the whole batch again), and its queue hands what keeps failing to a dead-letter queue."""
    template = SamTemplate(source)
    sources = {
        (function.logical_id, source.queue)
        for function in template.functions.values()
        for source in function.sqs_sources
    }
    assert ("PurgeServiceFunction", "ServicePurgeQueue") in sources
    mappings = of_type(translated, "AWS::Lambda::EventSourceMapping").values()
    queues = of_type(translated, "AWS::SQS::Queue")
    for function, queue in sources:
        (mapping,) = (
            m["Properties"]
            for m in mappings
            if m["Properties"]["FunctionName"] == {"Ref": alias_of(source, translated, function)}
            and m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
        )
        assert mapping.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], function
        redrive = queues[queue]["Properties"].get("RedrivePolicy", {})
        target = redrive.get("deadLetterTargetArn", {}).get("Fn::GetAtt", [None])[0]
        assert target in queues, f"{queue} has no dead-letter queue"
        assert target != queue
        assert isinstance(redrive.get("maxReceiveCount"), int), queue
        assert redrive["maxReceiveCount"] >= 1


def check_outputs(source: Document, translated: Document) -> None:
    """ApiUrl is the HTTPS base URL of the HTTP API's $default stage (no stage in the path)."""
    (api_id,) = of_type(source, "AWS::Serverless::HttpApi")
    url = translated.get("Outputs", {}).get("ApiUrl", {}).get("Value")
    assert url == {
        "Fn::Sub": f"https://${{{api_id}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"
    }


# -- the template as it is -----------------------------------------------------------------


def test_given_the_template_when_translated_then_every_function_is_a_python313_arm64_lambda_with_the_layer(  # noqa: E501
    sam_document, cloudformation
):
    check_functions(sam_document, cloudformation)


def test_given_the_template_when_translated_then_the_layer_is_built_for_arm64_python313(
    sam_document, cloudformation
):
    check_layer(sam_document, cloudformation)


def test_given_the_template_when_translated_then_the_api_has_exactly_the_contract_routes_each_to_its_function(  # noqa: E501
    sam_document, cloudformation
):
    check_routes(sam_document, cloudformation)


def test_given_the_template_when_translated_then_every_table_is_on_demand_recoverable_encrypted_and_retained(  # noqa: E501
    sam_document, cloudformation
):
    check_tables(sam_document, cloudformation)


def test_given_the_template_when_translated_then_bindings_are_keyed_by_service_and_address_with_a_gsi_on_identity(  # noqa: E501
    sam_document, cloudformation
):
    check_bindings_table_keys(sam_document, cloudformation)


def test_given_the_template_when_translated_then_the_api_throttles_requests(
    sam_document, cloudformation
):
    check_throttling(sam_document, cloudformation)


def test_given_the_template_when_translated_then_every_route_runs_the_lambda_authorizer_first(
    sam_document, cloudformation
):
    check_authorizer(sam_document, cloudformation)


def test_given_the_template_when_translated_then_the_purge_queue_reports_item_failures_and_has_a_dlq(  # noqa: E501
    sam_document, cloudformation
):
    check_purge_queue(sam_document, cloudformation)


def test_given_the_template_when_translated_then_it_outputs_the_api_url(
    sam_document, cloudformation
):
    check_outputs(sam_document, cloudformation)


# -- the checks notice a broken template -------------------------------------------------

Check = Callable[[Document, Document], None]


def _function(document: Document, name: str) -> Document:
    properties: Document = document["Resources"][name]["Properties"]
    return properties


def _globals(document: Document) -> Document:
    function_globals: Document = document["Globals"]["Function"]
    return function_globals


def _table(document: Document, name: str) -> Document:
    table: Document = document["Resources"][name]
    return table


def _layer(document: Document) -> Document:
    (layer,) = of_type(document, "AWS::Serverless::LayerVersion").values()
    return layer


def _http_api(document: Document) -> Document:
    (api,) = of_type(document, "AWS::Serverless::HttpApi").values()
    properties: Document = api["Properties"]
    return properties


def _authorizer(document: Document) -> Document:
    auth = _http_api(document)["Auth"]
    authorizer: Document = auth["Authorizers"][auth["DefaultAuthorizer"]]
    return authorizer


BREAKAGES: dict[str, tuple[Check, Callable[[Document], Any]]] = {
    "runtime python3.12": (
        check_functions,
        lambda d: _globals(d).update(Runtime="python3.12"),
    ),
    "one function on x86_64": (
        check_functions,
        lambda d: _function(d, "ListBindingsFunction").update(Architectures=["x86_64"]),
    ),
    "functions without the layer": (
        check_functions,
        lambda d: _globals(d).pop("Layers"),
    ),
    "layer without BuildArchitecture": (
        check_layer,
        lambda d: _layer(d)["Metadata"].pop("BuildArchitecture"),
    ),
    "layer built without its Makefile": (
        check_layer,
        lambda d: _layer(d)["Metadata"].update(BuildMethod=RUNTIME),
    ),
    "layer for x86_64": (
        check_layer,
        lambda d: _layer(d)["Properties"].update(CompatibleArchitectures=["x86_64"]),
    ),
    "a route missing": (
        check_routes,
        lambda d: _function(d, "DeleteBindingFunction").pop("Events"),
    ),
    "an extra route": (
        check_routes,
        lambda d: _function(d, "FetchBindingFunction")["Events"].update(
            Update={
                "Type": "HttpApi",
                "Properties": {
                    "ApiId": {"Ref": "BindingsApi"},
                    "Method": "POST",
                    "Path": "/v1/Services/{ServiceSid}/Bindings/{Sid}",
                },
            }
        ),
    ),
    "routes served by swapped functions": (
        check_routes,
        lambda d: (
            _function(d, "FetchBindingFunction")["Events"]["Fetch"]["Properties"].update(
                Method="DELETE"
            ),
            _function(d, "DeleteBindingFunction")["Events"]["Delete"]["Properties"].update(
                Method="GET"
            ),
        ),
    ),
    "a provisioned table": (
        check_tables,
        lambda d: _table(d, "BindingIndexTable")["Properties"].update(
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        ),
    ),
    "no point-in-time recovery": (
        check_tables,
        lambda d: _table(d, "BindingsTable")["Properties"].pop("PointInTimeRecoverySpecification"),
    ),
    "no encryption": (
        check_tables,
        lambda d: _table(d, "BindingIndexTable")["Properties"].pop("SSESpecification"),
    ),
    "no deletion protection": (
        check_tables,
        lambda d: _table(d, "BindingsTable")["Properties"].update(DeletionProtectionEnabled=False),
    ),
    "a table deleted with the stack": (
        check_tables,
        lambda d: _table(d, "BindingIndexTable").update(DeletionPolicy="Delete"),
    ),
    "bindings keyed by SID": (
        check_bindings_table_keys,
        lambda d: _table(d, "BindingsTable")["Properties"]["KeySchema"][1].update(
            AttributeName="Sid"
        ),
    ),
    "no identity index": (
        check_bindings_table_keys,
        lambda d: _table(d, "BindingsTable")["Properties"].pop("GlobalSecondaryIndexes"),
    ),
    "no throttling": (
        check_throttling,
        lambda d: _http_api(d).pop("DefaultRouteSettings"),
    ),
    "a route without the authorizer": (
        check_authorizer,
        lambda d: _function(d, "ListServicesFunction")["Events"]["List"]["Properties"].update(
            Auth={"Authorizer": "NONE"}
        ),
    ),
    "$default without the authorizer": (
        check_authorizer,
        lambda d: _function(d, "UnmatchedRouteFunction")["Events"]["Unmatched"][
            "Properties"
        ].update(Auth={"Authorizer": "NONE"}),
    ),
    "no default authorizer": (
        check_authorizer,
        lambda d: _http_api(d)["Auth"].pop("DefaultAuthorizer"),
    ),
    "an authorizer with an identity source": (
        check_authorizer,
        lambda d: _authorizer(d)["Identity"].update(Headers=["Authorization"]),
    ),
    "an authorizer whose answers are cached": (
        check_authorizer,
        lambda d: _authorizer(d)["Identity"].update(ReauthorizeEvery=300),
    ),
    "an authorizer with IAM policy responses": (
        check_authorizer,
        lambda d: _authorizer(d).update(EnableSimpleResponses=False),
    ),
    "an authorizer on payload 1.0": (
        check_authorizer,
        lambda d: _authorizer(d).update(AuthorizerPayloadFormatVersion="1.0"),
    ),
    "an authorizer invoked unpublished, not through its alias": (
        check_authorizer,
        lambda d: _authorizer(d).update(FunctionArn={"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}),
    ),
    "routes to unpublished functions (no alias)": (
        check_routes,
        lambda d: [
            d["Globals"]["Function"].pop(name)
            for name in (
                "AutoPublishAlias",
                "AutoPublishAliasAllProperties",
                "VersionDeletionPolicy",
                "SnapStart",
            )
        ],
    ),
    "a purge that fails whole batches": (
        check_purge_queue,
        lambda d: _function(d, "PurgeServiceFunction")["Events"]["Purge"]["Properties"].pop(
            "FunctionResponseTypes"
        ),
    ),
    "a purge queue without a dead-letter queue": (
        check_purge_queue,
        lambda d: d["Resources"]["ServicePurgeQueue"]["Properties"].pop("RedrivePolicy"),
    ),
    "no ApiUrl output": (
        check_outputs,
        lambda d: d["Outputs"].pop("ApiUrl"),
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_given_a_template_broken_in_one_way_when_translated_then_its_check_fails(
    sam_document, translate, breakage
):
    check, break_it = BREAKAGES[breakage]
    broken = copy.deepcopy(sam_document)
    break_it(broken)

    with pytest.raises(AssertionError):
        check(broken, translate(broken))


def test_given_the_unmatched_route_function_then_it_knows_exactly_the_templates_routes(template):
    """It tells a wrong method (405) from a wrong path (404) by the routes it is given, so
    they must be the template's own."""
    (unmatched,) = (f for f in template.functions.values() if any(r.is_default for r in f.routes))
    given = {route.strip() for route in unmatched.environment["API_ROUTES"].split(",")}

    assert given == {route.route_key for route in template.routes if not route.is_default}
