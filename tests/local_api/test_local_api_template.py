"""What the local API reads from a template: each route's authorizer, SQS event sources,
queue references in environments, and which shell variables override the template's."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from local_api.accounts import AccountRequest, requested_accounts
from local_api.event_sources import processed_records
from local_api.runtime import LocalQueue, environment_overrides, queue_references
from local_api.template import Authorizer, SamTemplate, SqsEventSource, resolve_environment

TEMPLATE = """\
Globals:
  Function:
    Handler: app.handler
    Environment:
      Variables:
        QUEUE_URL: !Ref Work
        QUEUE_ARN: !GetAtt Work.Arn
        LEVEL: INFO
        AWS_REGION: us-east-1
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Basic
        Authorizers:
          Basic:
            FunctionArn: !GetAtt BasicFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
          Keyed:
            FunctionArn: !GetAtt KeyedFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity:
              Headers: [X-Api-Key]
              QueryStrings: [key]
  OpenApi:
    Type: AWS::Serverless::HttpApi
  BasicFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: basic/}
  KeyedFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: keyed/}
  RoutesFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: routes/
      Environment:
        Variables:
          ONLY_HERE: "1"
      Events:
        Default:
          Type: HttpApi
          Properties: {ApiId: !Ref Api}
        Guarded:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: get, Path: /guarded}
        Open:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /open, Auth: {Authorizer: NONE}}
        Keyed:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /keyed, Auth: {Authorizer: Keyed}}
        Elsewhere:
          Type: HttpApi
          Properties: {ApiId: !Ref OpenApi, Method: GET, Path: /elsewhere}
  ConsumerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: consumer/
      Events:
        Partial:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 3
            FunctionResponseTypes: [ReportBatchItemFailures]
        Whole:
          Type: SQS
          Properties: {Queue: !GetAtt Other.Arn}
        Paused:
          Type: SQS
          Properties: {Queue: !GetAtt Other.Arn, Enabled: false}
  Work:
    Type: AWS::SQS::Queue
  Other:
    Type: AWS::SQS::Queue
"""

BASIC = Authorizer("Basic", "BasicFunction")


def load(tmp_path: Path, text: str = TEMPLATE) -> SamTemplate:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text))
    return SamTemplate.load(path)


@pytest.fixture
def template(tmp_path: Path) -> SamTemplate:
    return load(tmp_path)


def test_given_a_default_authorizer_when_routes_are_read_then_every_route_gets_it(template):
    routes = {route.route_key: route for route in template.routes}

    assert routes["$default"].authorizer == BASIC
    assert routes["GET /guarded"].authorizer == BASIC


def test_given_a_route_with_authorizer_none_when_read_then_it_has_no_authorizer(template):
    routes = {route.route_key: route for route in template.routes}

    assert routes["GET /open"].authorizer is None


def test_given_a_route_naming_another_authorizer_when_read_then_it_gets_that_one(template):
    routes = {route.route_key: route for route in template.routes}

    assert routes["GET /keyed"].authorizer == Authorizer(
        "Keyed", "KeyedFunction", ("X-Api-Key",), ("key",)
    )


def test_given_an_api_without_auth_when_its_routes_are_read_then_they_have_no_authorizer(
    template,
):
    routes = {route.route_key: route for route in template.routes}

    assert routes["GET /elsewhere"].authorizer is None


def test_given_an_authorizer_invoked_through_its_alias_when_read_then_it_runs_the_function(
    tmp_path,
):
    # AutoPublishAlias: `!Ref F.Alias` is the alias; locally there is one version, the code.
    aliased = TEMPLATE.replace(
        "FunctionArn: !GetAtt KeyedFunction.Arn", "FunctionArn: !Ref KeyedFunction.Alias"
    )

    routes = {route.route_key: route for route in load(tmp_path, aliased).routes}

    assert routes["GET /keyed"].authorizer == Authorizer(
        "Keyed", "KeyedFunction", ("X-Api-Key",), ("key",)
    )


def test_given_an_authorizer_referring_to_something_else_when_read_then_refused(tmp_path):
    other = TEMPLATE.replace(
        "FunctionArn: !GetAtt KeyedFunction.Arn", "FunctionArn: !Ref KeyedFunction"
    )

    with pytest.raises(ValueError, match="authorizer Keyed: the local API runs Lambda"):
        _ = load(tmp_path, other).routes


def test_given_a_jwt_authorizer_when_routes_are_read_then_refused_by_name(tmp_path):
    jwt = TEMPLATE.replace(
        "FunctionArn: !GetAtt BasicFunction.Arn", "JwtConfiguration: {issuer: x}"
    )

    with pytest.raises(ValueError, match="authorizer Basic"):
        _ = load(tmp_path, jwt).routes


def test_given_a_route_naming_an_unknown_authorizer_when_read_then_refused_by_name(tmp_path):
    unknown = TEMPLATE.replace("Auth: {Authorizer: Keyed}", "Auth: {Authorizer: Missing}")

    with pytest.raises(ValueError, match="authorizer Missing: not among"):
        _ = load(tmp_path, unknown).routes


def test_given_sqs_events_when_read_then_enabled_ones_are_event_sources(template):
    sources = template.functions["ConsumerFunction"].sqs_sources

    assert sources == (
        SqsEventSource("Work", batch_size=3, report_batch_item_failures=True),
        SqsEventSource("Other", batch_size=10, report_batch_item_failures=False),
    )


def test_given_queue_references_when_an_environment_is_resolved_then_url_and_arn(template):
    queues = {"Work": LocalQueue("Work", "http://127.0.0.1:1/123/Work", "arn:aws:sqs:r:123:Work")}
    function = template.functions["RoutesFunction"]

    resolved = resolve_environment(function.environment, queue_references(queues), {})

    assert resolved["QUEUE_URL"] == "http://127.0.0.1:1/123/Work"
    assert resolved["QUEUE_ARN"] == "arn:aws:sqs:r:123:Work"


def test_given_shell_variables_when_overrides_are_read_then_only_declared_non_aws_ones(template):
    shell = {"LEVEL": "DEBUG", "ONLY_HERE": "2", "UNDECLARED": "x", "AWS_REGION": "eu-west-3"}

    assert environment_overrides(template, shell) == {"LEVEL": "DEBUG", "ONLY_HERE": "2"}


# -- what Lambda deletes after a batch ---------------------------------------------------------

RECORDS = [{"messageId": "a"}, {"messageId": "b"}, {"messageId": "c"}]


def ids(records):
    return [record["messageId"] for record in records]


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, "anything"])
def test_given_no_partial_failure_reporting_when_the_function_returned_then_all_are_deleted(
    response,
):
    assert ids(processed_records(RECORDS, response, report_batch_item_failures=False)) == [
        "a",
        "b",
        "c",
    ]


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}])
def test_given_partial_failure_reporting_when_no_failure_is_reported_then_all_are_deleted(
    response,
):
    assert ids(processed_records(RECORDS, response, report_batch_item_failures=True)) == [
        "a",
        "b",
        "c",
    ]


def test_given_partial_failure_reporting_when_failures_are_reported_then_the_rest_is_deleted():
    response = {"batchItemFailures": [{"itemIdentifier": "b"}]}

    assert ids(processed_records(RECORDS, response, report_batch_item_failures=True)) == ["a", "c"]


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": "unknown"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "b"}]},
        {"batchItemFailures": "b"},
        "not an object",
    ],
)
def test_given_an_invalid_partial_response_when_read_then_the_whole_batch_failed(response):
    assert processed_records(RECORDS, response, report_batch_item_failures=True) == []


# -- development accounts from the environment -------------------------------------------------


def test_given_no_account_variables_when_read_then_one_generated_account():
    assert requested_accounts({}) == [AccountRequest("NOTIFY_ACCOUNT_SID")]


def test_given_account_variables_when_read_then_those_accounts_in_order():
    environ = {
        "NOTIFY_ACCOUNT_SID": "AC1",
        "NOTIFY_AUTH_TOKEN": "t1",
        "NOTIFY_DEV_ACCOUNTS": " AC2:t2 , AC3:t3,",
    }

    assert requested_accounts(environ) == [
        AccountRequest("NOTIFY_ACCOUNT_SID", "AC1", "t1"),
        AccountRequest("NOTIFY_DEV_ACCOUNTS", "AC2", "t2"),
        AccountRequest("NOTIFY_DEV_ACCOUNTS", "AC3", "t3"),
    ]


@pytest.mark.parametrize("environ", [{"NOTIFY_ACCOUNT_SID": "AC1"}, {"NOTIFY_AUTH_TOKEN": "t"}])
def test_given_only_half_of_an_account_when_read_then_refused(environ):
    with pytest.raises(ValueError, match="NOTIFY_ACCOUNT_SID and NOTIFY_AUTH_TOKEN together"):
        requested_accounts(environ)


def test_given_a_malformed_dev_account_when_read_then_refused_without_echoing_it():
    with pytest.raises(ValueError, match="NOTIFY_DEV_ACCOUNTS: entry 2") as refused:
        requested_accounts({"NOTIFY_DEV_ACCOUNTS": "AC1:t1,secret-token"})

    assert "secret-token" not in str(refused.value)
