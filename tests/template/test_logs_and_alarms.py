"""What operating the stack needs, in the CloudFormation that `sam deploy` would create from
template.yaml: every function's log group and the API's access log, kept for LogRetentionInDays;
an access log that records no personal data; and alarms on the API's 5xx, on each function's
errors and throttles, on each table's throttled requests and system errors, and on the purge's
dead-letter queue, notifying the optional AlarmTopicArn.

As in test_sam_translation.py, the last test breaks a copy of the template in each way these
checks guard against and shows that they notice.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.template.test_sam_translation import of_type

Document = dict[str, Any]

RETENTION_PARAMETER = "LogRetentionInDays"
ALARM_TOPIC_PARAMETER = "AlarmTopicArn"
ALARM_TOPIC_CONDITION = "HasAlarmTopic"
# The values CloudWatch Logs accepts for RetentionInDays.
VALID_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557}
    | {2922, 3288, 3653}
)
# What the API's access log may record: nothing a client chose (path, query string, headers,
# body) and not its address; the operation is the route key, the tenant the account SID.
ACCESS_LOG_VARIABLES = frozenset(
    {
        "$context.requestId",
        "$context.requestTime",
        "$context.requestTimeEpoch",
        "$context.routeKey",
        "$context.status",
        "$context.protocol",
        "$context.responseLength",
        "$context.responseLatency",
        "$context.integration.status",
        "$context.integration.latency",
        "$context.integration.error",
        "$context.authorizer.accountSid",
        "$context.authorizer.error",
        "$context.error.message",
    }
)
ACCESS_LOG_REQUIRED = {"$context.requestId", "$context.routeKey", "$context.status"}
_LAMBDA_LOG_GROUP = re.compile(r"/aws/lambda/\$\{(\w+)\}")
_DYNAMODB_QUERY = (
    r"SELECT SUM\({metric}\) FROM SCHEMA\(\"AWS/DynamoDB\", ?"
    r"(Operation, ?TableName|TableName, ?Operation)\) WHERE TableName = '\$\{{{table}\}}'"
)


def _parameter(document: Document, name: str) -> Document:
    parameter: Document | None = document.get("Parameters", {}).get(name)
    assert parameter is not None, f"no parameter {name}"
    return parameter


def check_retention(translated: Document, log_group: str) -> None:
    """The log group keeps its events for LogRetentionInDays, a Number whose default and
    allowed values CloudWatch Logs accepts."""
    properties = translated["Resources"][log_group]["Properties"]
    assert properties.get("RetentionInDays") == {"Ref": RETENTION_PARAMETER}, log_group
    parameter = _parameter(translated, RETENTION_PARAMETER)
    assert parameter["Type"] == "Number"
    assert int(parameter.get("Default", 0)) in VALID_RETENTION_DAYS, parameter.get("Default")
    allowed = {int(value) for value in parameter.get("AllowedValues", [])}
    assert allowed, "any number of days would be accepted, and rejected only at deploy time"
    assert allowed <= VALID_RETENTION_DAYS, allowed - VALID_RETENTION_DAYS


# -- checks, each over the source template and its translation ---------------------------


def check_function_log_groups(source: Document, translated: Document) -> None:
    """Every function has exactly one log group of its own, /aws/lambda/<its name>, where
    Lambda writes (no LoggingConfig sends it elsewhere), kept for LogRetentionInDays."""
    functions = of_type(translated, "AWS::Lambda::Function")
    groups_of: dict[str, list[str]] = {}
    for name, group in of_type(translated, "AWS::Logs::LogGroup").items():
        group_name = group["Properties"].get("LogGroupName")
        template = group_name.get("Fn::Sub") if isinstance(group_name, dict) else None
        match = _LAMBDA_LOG_GROUP.fullmatch(template) if isinstance(template, str) else None
        if match is not None:
            groups_of.setdefault(match[1], []).append(name)
    assert set(groups_of) == set(functions), set(functions) ^ set(groups_of)
    for function, groups in groups_of.items():
        assert len(groups) == 1, (function, groups)
        logging_config = functions[function]["Properties"].get("LoggingConfig", {})
        assert "LogGroup" not in logging_config, function
        check_retention(translated, groups[0])


def check_access_log(source: Document, translated: Document) -> None:
    """Every stage of the HTTP API writes a JSON access log to a log group of the stack, kept
    for LogRetentionInDays, made only of variables that carry no personal data."""
    (api_id,) = of_type(translated, "AWS::ApiGatewayV2::Api")
    stages = [
        stage["Properties"]
        for stage in of_type(translated, "AWS::ApiGatewayV2::Stage").values()
        if stage["Properties"]["ApiId"] == {"Ref": api_id}
    ]
    assert stages
    for stage in stages:
        settings = stage.get("AccessLogSettings")
        assert settings is not None, f"stage {stage['StageName']} keeps no access log"
        destination = settings["DestinationArn"]
        assert set(destination) == {"Fn::GetAtt"}, destination
        group, attribute = destination["Fn::GetAtt"]
        assert attribute == "Arn"
        assert translated["Resources"][group]["Type"] == "AWS::Logs::LogGroup", group
        check_retention(translated, group)
        fields = json.loads(settings["Format"])
        assert isinstance(fields, dict), settings["Format"]
        variables = set(fields.values())
        assert variables <= ACCESS_LOG_VARIABLES, variables - ACCESS_LOG_VARIABLES
        assert variables >= ACCESS_LOG_REQUIRED, ACCESS_LOG_REQUIRED - variables


def _watched(alarm: Document) -> tuple[str, str, Document] | None:
    """(namespace, metric, dimensions) of an alarm on one metric; None for metric math."""
    properties = alarm["Properties"]
    if "MetricName" not in properties:
        return None
    dimensions = {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
    return properties["Namespace"], properties["MetricName"], dimensions


def _watching(alarms: dict[str, Document], namespace: str, metric: str, **dimensions: Any) -> str:
    found = [
        name for name, alarm in alarms.items() if _watched(alarm) == (namespace, metric, dimensions)
    ]
    assert found, f"no alarm on {namespace} {metric} {dimensions}"
    return found[0]


def _queried(alarm: Document) -> str | None:
    """The Metrics Insights query (a Fn::Sub template) an alarm watches, if it watches one."""
    returned = [m for m in alarm["Properties"].get("Metrics", []) if m.get("ReturnData", True)]
    if len(returned) != 1:
        return None
    expression = returned[0].get("Expression")
    template = expression.get("Fn::Sub") if isinstance(expression, dict) else expression
    return " ".join(template.split()) if isinstance(template, str) else None


def check_alarms(source: Document, translated: Document) -> None:
    """Alarms on the API's 5xx, on every function's Errors and Throttles, on every table's
    ThrottledRequests and SystemErrors (all operations), and on every dead-letter queue."""
    alarms = of_type(translated, "AWS::CloudWatch::Alarm")
    (api_id,) = of_type(translated, "AWS::ApiGatewayV2::Api")
    stage_names = [
        stage["Properties"]["StageName"]
        for stage in of_type(translated, "AWS::ApiGatewayV2::Stage").values()
        if stage["Properties"]["ApiId"] == {"Ref": api_id}
    ]
    assert stage_names
    for stage_name in stage_names:
        _watching(alarms, "AWS/ApiGateway", "5xx", ApiId={"Ref": api_id}, Stage=stage_name)
    for function in of_type(translated, "AWS::Lambda::Function"):
        for metric in ("Errors", "Throttles"):
            _watching(alarms, "AWS/Lambda", metric, FunctionName={"Ref": function})
    queries = [query for alarm in alarms.values() if (query := _queried(alarm)) is not None]
    for table in of_type(translated, "AWS::DynamoDB::Table"):
        for metric in ("ThrottledRequests", "SystemErrors"):
            pattern = re.compile(_DYNAMODB_QUERY.format(metric=metric, table=table))
            assert any(pattern.fullmatch(query) for query in queries), f"{table} {metric}"
    queues = of_type(translated, "AWS::SQS::Queue")
    dead_letter_queues = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in queues.values()
        if "RedrivePolicy" in queue["Properties"]
    }
    assert dead_letter_queues
    for queue in dead_letter_queues:
        _watching(
            alarms,
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            QueueName={"Fn::GetAtt": [queue, "QueueName"]},
        )


def check_alarm_behaviour(source: Document, translated: Document) -> None:
    """Every alarm goes off on the first bad period (more than zero) - a stream consumer's lag
    alarm, after minutes of lag -, treats a period without
    data as nothing wrong, and notifies AlarmTopicArn when that is set (optional: empty by
    default, when the alarms have no actions)."""
    parameter = _parameter(translated, ALARM_TOPIC_PARAMETER)
    assert parameter["Type"] == "String"
    assert parameter.get("Default") == "", "a stack without a topic must be possible"
    assert translated.get("Conditions", {}).get(ALARM_TOPIC_CONDITION) == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_TOPIC_PARAMETER}, ""]}]
    }
    actions = {
        "Fn::If": [
            ALARM_TOPIC_CONDITION,
            [{"Ref": ALARM_TOPIC_PARAMETER}],
            {"Ref": "AWS::NoValue"},
        ]
    }
    alarms = of_type(translated, "AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties.get("ComparisonOperator") == "GreaterThanThreshold", name
        if properties.get("MetricName") == "IteratorAge":
            # A lag, not a fault: a stream consumer minutes behind for minutes on end.
            assert 0 < properties.get("Threshold", 0) <= 15 * 60 * 1000, name
            assert properties.get("EvaluationPeriods", 0) <= 15, name
        else:
            assert properties.get("Threshold") == 0, name
            assert properties.get("EvaluationPeriods") == 1, name
        assert properties.get("TreatMissingData") == "notBreaching", name
        assert properties.get("AlarmActions") == actions, name
        assert properties.get("OKActions") == actions, name


# -- the template as it is -----------------------------------------------------------------


def test_given_the_template_when_translated_then_every_function_has_its_own_log_group_with_a_retention(  # noqa: E501
    sam_document, cloudformation
):
    check_function_log_groups(sam_document, cloudformation)


def test_given_the_template_when_translated_then_the_api_keeps_an_access_log_without_personal_data(
    sam_document, cloudformation
):
    check_access_log(sam_document, cloudformation)


def test_given_the_template_when_translated_then_api_function_table_and_dead_letter_alarms_exist(
    sam_document, cloudformation
):
    check_alarms(sam_document, cloudformation)


def test_given_the_template_when_translated_then_every_alarm_fires_on_the_first_fault_and_notifies_the_optional_topic(  # noqa: E501
    sam_document, cloudformation
):
    check_alarm_behaviour(sam_document, cloudformation)


def test_given_the_retention_parameter_then_it_defaults_to_thirty_days(sam_document):
    assert _parameter(sam_document, RETENTION_PARAMETER)["Default"] == 30


# -- the checks notice a broken template -------------------------------------------------

Check = Callable[[Document, Document], None]


def _resource(document: Document, name: str) -> Document:
    properties: Document = document["Resources"][name]["Properties"]
    return properties


def _access_log(document: Document) -> Document:
    (api,) = of_type(document, "AWS::Serverless::HttpApi").values()
    settings: Document = api["Properties"]["AccessLogSettings"]
    return settings


def _log_also(variable: str) -> Callable[[Document], None]:
    def break_it(document: Document) -> None:
        fields = json.loads(_access_log(document)["Format"])
        _access_log(document)["Format"] = json.dumps({**fields, "added": variable})

    return break_it


BREAKAGES: dict[str, tuple[Check, Callable[[Document], Any]]] = {
    "a function without its log group": (
        check_function_log_groups,
        lambda d: d["Resources"].pop("PurgeServiceFunctionLogGroup"),
    ),
    "a log group kept forever": (
        check_function_log_groups,
        lambda d: _resource(d, "CreateBindingFunctionLogGroup").pop("RetentionInDays"),
    ),
    "a log group with its own retention": (
        check_function_log_groups,
        lambda d: _resource(d, "AuthorizerFunctionLogGroup").update(RetentionInDays=3653),
    ),
    "a log group named after another function": (
        check_function_log_groups,
        lambda d: _resource(d, "ListBindingsFunctionLogGroup").update(
            LogGroupName={"Fn::Sub": "/aws/lambda/${FetchBindingFunction}"}
        ),
    ),
    "a function logging elsewhere": (
        check_function_log_groups,
        lambda d: _resource(d, "DeleteBindingFunction").update(
            LoggingConfig={"LogGroup": "somewhere-else"}
        ),
    ),
    "a retention CloudWatch refuses": (
        check_function_log_groups,
        lambda d: d["Parameters"][RETENTION_PARAMETER].update(Default=31),
    ),
    "any retention allowed": (
        check_function_log_groups,
        lambda d: d["Parameters"][RETENTION_PARAMETER].pop("AllowedValues"),
    ),
    "no access log": (
        check_access_log,
        lambda d: of_type(d, "AWS::Serverless::HttpApi")["BindingsApi"]["Properties"].pop(
            "AccessLogSettings"
        ),
    ),
    "an access log kept forever": (
        check_access_log,
        lambda d: _resource(d, "ApiAccessLogGroup").pop("RetentionInDays"),
    ),
    "an access log with the path": (check_access_log, _log_also("$context.path")),
    "an access log with the query string": (
        check_access_log,
        _log_also("$request.querystring.Identity"),
    ),
    "an access log with a header": (check_access_log, _log_also("$request.header.authorization")),
    "an access log with the caller's address": (
        check_access_log,
        _log_also("$context.identity.sourceIp"),
    ),
    "an access log without the route": (
        check_access_log,
        lambda d: _access_log(d).update(
            Format=json.dumps(
                {
                    key: value
                    for key, value in json.loads(_access_log(d)["Format"]).items()
                    if value != "$context.routeKey"
                }
            )
        ),
    ),
    "no 5xx alarm": (check_alarms, lambda d: d["Resources"].pop("ApiServerErrorsAlarm")),
    "a 4xx alarm instead": (
        check_alarms,
        lambda d: _resource(d, "ApiServerErrorsAlarm").update(MetricName="4xx"),
    ),
    "a function without an errors alarm": (
        check_alarms,
        lambda d: d["Resources"].pop("PurgeServiceFunctionErrorsAlarm"),
    ),
    "a throttles alarm on another function": (
        check_alarms,
        lambda d: _resource(d, "AuthorizerFunctionThrottlesAlarm").update(
            Dimensions=[{"Name": "FunctionName", "Value": {"Ref": "CreateServiceFunction"}}]
        ),
    ),
    "a table without a throttles alarm": (
        check_alarms,
        lambda d: d["Resources"].pop("AccountsTableThrottlesAlarm"),
    ),
    "system errors of one operation only": (
        check_alarms,
        lambda d: _resource(d, "BindingsTableSystemErrorsAlarm")["Metrics"][0].update(
            Expression={
                "Fn::Sub": _resource(d, "BindingsTableSystemErrorsAlarm")["Metrics"][0][
                    "Expression"
                ]["Fn::Sub"]
                + " AND Operation = 'PutItem'"
            }
        ),
    ),
    "no dead-letter queue alarm": (
        check_alarms,
        lambda d: d["Resources"].pop("ServicePurgeDeadLetterQueueAlarm"),
    ),
    "an alarm without actions": (
        check_alarm_behaviour,
        lambda d: _resource(d, "ServicesTableSystemErrorsAlarm").pop("AlarmActions"),
    ),
    "an alarm that waits for ten errors": (
        check_alarm_behaviour,
        lambda d: _resource(d, "CreateBindingFunctionErrorsAlarm").update(Threshold=10),
    ),
    "an alarm in alarm without data": (
        check_alarm_behaviour,
        lambda d: _resource(d, "ApiServerErrorsAlarm").update(TreatMissingData="breaching"),
    ),
    "a topic that must be given": (
        check_alarm_behaviour,
        lambda d: d["Parameters"][ALARM_TOPIC_PARAMETER].pop("Default"),
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
