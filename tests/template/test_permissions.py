"""Each function's IAM role, as the SAM translator makes it from template.yaml, allows exactly
the DynamoDB calls that function makes: nothing it does would be denied in AWS, nothing it may
do goes unused, nothing is a wildcard, and the functions behind GET routes only read.

What each function does is recorded, not assumed: every path of every operation runs against
moto while a botocore hook writes down each DynamoDB call as IAM authorises it (an item of a
transaction needs the action of its kind, a batch needs its action on each table).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from local_api.events import http_api_event
from local_api.runtime import LocalFunctions
from local_api.template import SamTemplate
from notify_bindings import dependencies
from notify_bindings.sids import new_sid
from notify_bindings.store import BindingStore

Document = dict[str, Any]
Grant = tuple[str, str]  # (IAM action, table logical id, or "<table>/index/<name>")

# The contract: what serves a GET may only read.
READ_ONLY_ROUTES = {
    "GET /v1/Services/{ServiceSid}/Bindings",
    "GET /v1/Services/{ServiceSid}/Bindings/{Sid}",
}
READ_ONLY_ACTIONS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DescribeTable",
    }
)
# What SAM gives every function: writing its own logs, nothing else.
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
_TRANSACTION_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


# -- reading roles ---------------------------------------------------------------------------


def role_of(translated: Document, function: str) -> Document:
    role_id, attribute = translated["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"]
    assert attribute == "Arn"
    role: Document = translated["Resources"][role_id]["Properties"]
    return role


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed_statements(translated: Document, function: str) -> list[Document]:
    return [
        statement
        for policy in role_of(translated, function).get("Policies", [])
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
        if statement.get("Effect") == "Allow"
    ]


def dynamodb_resource(resource: Any, tables: dict[str, Document]) -> str | None:
    """The table (or "<table>/index/<name>") that a policy resource names, if it names one of
    the template's tables exactly; None for anything else."""
    if isinstance(resource, dict) and set(resource) == {"Fn::GetAtt"}:
        table, attribute = resource["Fn::GetAtt"]
        return table if table in tables and attribute == "Arn" else None
    if isinstance(resource, dict) and set(resource) == {"Fn::Sub"}:
        for table, definition in tables.items():
            for index in definition["Properties"].get("GlobalSecondaryIndexes", []):
                if resource["Fn::Sub"] == f"${{{table}.Arn}}/index/{index['IndexName']}":
                    return f"{table}/index/{index['IndexName']}"
    return None


def grants(translated: Document, function: str) -> set[Grant]:
    tables = {
        name: r
        for name, r in translated["Resources"].items()
        if r["Type"] == "AWS::DynamoDB::Table"
    }
    granted = set()
    for statement in allowed_statements(translated, function):
        for action in _as_list(statement.get("Action", [])):
            for resource in _as_list(statement.get("Resource", [])):
                table = dynamodb_resource(resource, tables)
                assert table is not None, f"{function} may {action} on {resource}, not a table"
                granted.add((action, table))
    return granted


def functions_serving(source: Document, route_keys: set[str]) -> set[str]:
    return {r.function for r in SamTemplate(source).routes if r.route_key in route_keys}


# -- checks ------------------------------------------------------------------------------------


def check_no_wildcards(source: Document, translated: Document) -> None:
    """No wildcard action or resource, no NotAction/NotResource, no managed policy but logging."""
    for function in SamTemplate(source).functions:
        role = role_of(translated, function)
        assert role.get("ManagedPolicyArns", []) == [BASIC_EXECUTION_POLICY], function
        for statement in allowed_statements(translated, function):
            assert not {"NotAction", "NotResource"} & set(statement), (function, statement)
            for action in _as_list(statement["Action"]):
                assert "*" not in action, (function, action)
            for resource in _as_list(statement["Resource"]):
                assert "*" not in json.dumps(resource), (function, resource)
        grants(translated, function)  # every resource is one of the tables


def check_read_only(source: Document, translated: Document) -> None:
    """The functions behind GET routes (fetch and list) may only read."""
    readers = functions_serving(source, READ_ONLY_ROUTES)
    assert len(readers) == 2
    for function in readers:
        actions = {action for action, _ in grants(translated, function)}
        assert actions, f"{function} may not read anything"
        assert actions <= READ_ONLY_ACTIONS, f"{function} may {actions - READ_ONLY_ACTIONS}"
        writes = {a for a in actions if any(w in a for w in ("Put", "Update", "Delete", "Write"))}
        assert not writes, (function, writes)


def check_least_privilege(
    source: Document, translated: Document, used: dict[str, set[Grant]]
) -> None:
    """Each role allows exactly the calls its function was seen making."""
    assert set(used) == set(SamTemplate(source).functions)
    for function, calls in used.items():
        granted = grants(translated, function)
        assert calls - granted == set(), f"{function} would be denied {calls - granted}"
        assert granted - calls == set(), f"{function} may {granted - calls} but never does"


# -- recording what the functions do -------------------------------------------------------------


class DynamoDBCalls:
    """A botocore hook: while recording, each DynamoDB call, written down as IAM authorises it."""

    def __init__(self, table_names: dict[str, str]) -> None:
        self._table_names = table_names  # physical name -> logical id
        self._recording: set[Grant] | None = None

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self._recording is not None:
            self._recording.update(self._grants_needed(model.name, params))

    @contextmanager
    def recording(self) -> Iterator[set[Grant]]:
        calls: set[Grant] = set()
        self._recording = calls
        try:
            yield calls
        finally:
            self._recording = None

    def _grants_needed(self, operation: str, params: dict[str, Any]) -> Iterator[Grant]:
        if operation in ("TransactWriteItems", "TransactGetItems"):
            for item in params["TransactItems"]:
                ((kind, request),) = item.items()
                yield _TRANSACTION_ACTIONS[kind], self._resource(request)
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for table in params["RequestItems"]:
                yield f"dynamodb:{operation}", self._resource({"TableName": table})
        else:
            yield f"dynamodb:{operation}", self._resource(params)

    def _resource(self, request: dict[str, Any]) -> str:
        table = self._table_names.get(request["TableName"], request["TableName"])
        return f"{table}/index/{request['IndexName']}" if "IndexName" in request else table


Call = Callable[..., dict[str, Any]]  # (path, form=..., query=...) -> the Lambda response
Create = Callable[..., str]  # (path, **form) -> the SID of a binding created in advance


def _create_then_replace(run: Call, create: Create, path: str) -> None:
    token = {"Identity": "alice", "BindingType": "apn", "Address": "token-1"}
    assert run(path, form=token)["statusCode"] == 201  # a new binding
    assert run(path, form=token)["statusCode"] == 201  # the same again: unchanged
    assert run(path, form={**token, "Tag": "beta"})["statusCode"] == 201  # replaced
    assert run(path, form={**token, "Identity": "bob"})["statusCode"] == 201  # changes identity


def _fetch(run: Call, create: Create, path: str) -> None:
    sid = create(path, Identity="alice", Address="token-1")
    assert run(f"{path}/{sid}")["statusCode"] == 200
    assert run(f"{path}/BS{'0' * 32}")["statusCode"] == 404


def _list_every_way(run: Call, create: Create, path: str) -> None:
    create(path, Identity="alice", Address="token-1", Tag="premium")
    assert run(path)["statusCode"] == 200
    assert run(path, query={"Tag": "premium", "PageSize": "1"})["statusCode"] == 200
    assert run(path, query={"Identity": "alice"})["statusCode"] == 200


def _delete_every_way(run: Call, create: Create, path: str) -> None:
    first = create(path, Identity="alice", Address="token-1")
    last = create(path, Identity="alice", Address="token-2")
    assert run(f"{path}/{first}")["statusCode"] == 204  # the identity keeps a binding
    assert run(f"{path}/{last}")["statusCode"] == 204  # its last binding: the record goes
    assert run(f"{path}/{last}")["statusCode"] == 404


def _unmatched(run: Call, create: Create, path: str) -> None:
    sid = create(path, Identity="alice", Address="token-1")
    assert run(f"{path}/{sid}", method="POST")["statusCode"] == 405
    assert run(f"{path}/{sid}/Nothing", method="GET")["statusCode"] == 404


# Every path of each operation through the store, by the route it serves.
SCENARIOS: dict[str, Callable[[Call, Create, str], None]] = {
    "POST /v1/Services/{ServiceSid}/Bindings": _create_then_replace,
    "GET /v1/Services/{ServiceSid}/Bindings/{Sid}": _fetch,
    "GET /v1/Services/{ServiceSid}/Bindings": _list_every_way,
    "DELETE /v1/Services/{ServiceSid}/Bindings/{Sid}": _delete_every_way,
    "$default": _unmatched,
}


@pytest.fixture(scope="module")
def calls_by_function(template: SamTemplate, functions: LocalFunctions) -> dict[str, set[Grant]]:
    """What each function of the template did through DynamoDB, on every path it has."""
    settings = dependencies.settings()
    table_names = {
        functions.environment[variable]: value["Ref"]
        for function in template.functions.values()
        for variable, value in function.environment.items()
        if isinstance(value, dict) and value.get("Ref") in template.tables
    }
    recorder = DynamoDBCalls(table_names)
    client = boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint_url)
    client.meta.events.register("before-parameter-build.dynamodb", recorder.hook)
    store = BindingStore(client, settings.bindings_table, settings.binding_index_table)
    routes = {route.route_key: route for route in template.routes}
    (creator,) = (r.function for r in template.routes if r.method == "POST")

    def call(
        function: str, path: str, form: Any = None, query: Any = None, method: str | None = None
    ) -> dict[str, Any]:
        (route,) = template.functions[function].routes
        body = urlencode(form or {}, doseq=True).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
        event = http_api_event(
            route,
            path,
            method=method,
            query=urlencode(query or {}, doseq=True),
            headers=headers,
            body=body,
        )
        return functions.invoke(function, event)

    def create(path: str, **form: str) -> str:
        reply = call(creator, path, form={"BindingType": "apn", **form})
        assert reply["statusCode"] == 201, reply["body"]
        sid: str = json.loads(reply["body"])["sid"]
        return sid

    used: dict[str, set[Grant]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dependencies, "binding_store", lambda: store)
        for route_key, scenario in SCENARIOS.items():
            function = routes[route_key].function

            def run(path: str, function: str = function, **request: Any) -> dict[str, Any]:
                with recorder.recording() as calls:
                    response = call(function, path, **request)
                used.setdefault(function, set()).update(calls)
                return response

            scenario(run, create, f"/v1/Services/{new_sid('IS')}/Bindings")
    return used


# -- the template as it is --------------------------------------------------------------------


def test_given_the_template_when_translated_then_no_role_has_a_wildcard_or_a_resource_but_its_tables(  # noqa: E501
    sam_document, cloudformation
):
    check_no_wildcards(sam_document, cloudformation)


def test_given_the_template_when_translated_then_fetch_and_list_may_only_read(
    sam_document, cloudformation
):
    check_read_only(sam_document, cloudformation)


def test_given_every_path_of_every_function_when_run_then_its_role_allows_exactly_the_calls_it_made(
    sam_document, cloudformation, calls_by_function
):
    check_least_privilege(sam_document, cloudformation, calls_by_function)


# -- the checks notice a broken template ------------------------------------------------------


def _statements(document: Document, function: str) -> list[Document]:
    statements: list[Document] = document["Resources"][function]["Properties"]["Policies"][0][
        "Statement"
    ]
    return statements


def _actions(document: Document, function: str, statement: int) -> list[str]:
    actions: list[str] = _statements(document, function)[statement]["Action"]
    return actions


def _allow(action: str, resource: Any) -> Document:
    return {"Effect": "Allow", "Action": [action], "Resource": resource}


Check = Callable[[Document, Document, dict[str, set[Grant]]], None]
CHECKS: dict[str, Check] = {
    "no wildcards": lambda source, translated, _: check_no_wildcards(source, translated),
    "read only": lambda source, translated, _: check_read_only(source, translated),
    "least privilege": check_least_privilege,
}

# breakage -> (the check that must notice, what it says, how to break the template)
BREAKAGES: dict[str, tuple[str, str, Callable[[Document], Any]]] = {
    "a wildcard action": (
        "no wildcards",
        r"'dynamodb:\*'",
        lambda d: _statements(d, "CreateBindingFunction")[0].update(Action="dynamodb:*"),
    ),
    "a wildcard resource": (
        "no wildcards",
        r"'FetchBindingFunction', '\*'",
        lambda d: _statements(d, "FetchBindingFunction")[0].update(Resource="*"),
    ),
    "every index of a table": (
        "no wildcards",
        r"index/\*",
        lambda d: _statements(d, "ListBindingsFunction").append(
            _allow("dynamodb:Query", {"Fn::Sub": "${BindingsTable.Arn}/index/*"})
        ),
    ),
    "a managed policy": (
        "no wildcards",
        "DeleteBindingFunction",
        lambda d: d["Resources"]["DeleteBindingFunction"]["Properties"]["Policies"].append(
            "AmazonDynamoDBFullAccess"
        ),
    ),
    "fetch may write": (
        "read only",
        "FetchBindingFunction may {'dynamodb:PutItem'}",
        lambda d: _actions(d, "FetchBindingFunction", 0).append("dynamodb:PutItem"),
    ),
    "list may delete": (
        "read only",
        "ListBindingsFunction may {'dynamodb:DeleteItem'}",
        lambda d: _statements(d, "ListBindingsFunction").append(
            _allow("dynamodb:DeleteItem", {"Fn::GetAtt": ["BindingsTable", "Arn"]})
        ),
    ),
    "a permission create lacks": (
        "least privilege",
        r"CreateBindingFunction would be denied {\('dynamodb:DeleteItem', 'BindingIndexTable'\)}",
        lambda d: _statements(d, "CreateBindingFunction")[1]["Action"].remove(
            "dynamodb:DeleteItem"
        ),
    ),
    "a permission delete never uses": (
        "least privilege",
        r"DeleteBindingFunction may {\('dynamodb:GetItem', 'BindingsTable'\)} but never does",
        lambda d: _actions(d, "DeleteBindingFunction", 0).append("dynamodb:GetItem"),
    ),
    "a table list never reads": (
        "least privilege",
        r"ListBindingsFunction may {\('dynamodb:Query', 'BindingsTable'\)} but never does",
        lambda d: _statements(d, "ListBindingsFunction").append(
            _allow("dynamodb:Query", {"Fn::GetAtt": ["BindingsTable", "Arn"]})
        ),
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_given_a_role_broken_in_one_way_when_translated_then_its_check_fails(
    sam_document, translate, calls_by_function, breakage
):
    check, complaint, break_it = BREAKAGES[breakage]
    broken = copy.deepcopy(sam_document)
    break_it(broken)
    translated = translate(broken)

    with pytest.raises(AssertionError, match=complaint):
        CHECKS[check](broken, translated, calls_by_function)
