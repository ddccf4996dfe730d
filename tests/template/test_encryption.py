"""Encryption at rest, as CloudFormation deploys template.yaml without and with a customer managed
key in KmsKeyArn: without one, the tables use DynamoDB's AWS managed key and the queues SQS's own
encryption (stated, not left to the default); with one, the tables, the queues, every log group,
the page-token secret and the functions' environment all use it.

As in test_sam_translation.py, the last test breaks a copy of the template in each way these
checks guard against and shows that they notice.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.template.conftest import KMS_KEY_ARN, with_conditions_decided
from tests.template.test_sam_translation import of_type

Document = dict[str, Any]

KEY_PARAMETER = "KmsKeyArn"
THE_KEY = {"Ref": KEY_PARAMETER}
# Resource type -> the property naming its KMS key.
KEY_PROPERTIES = {
    "AWS::SQS::Queue": "KmsMasterKeyId",
    "AWS::Logs::LogGroup": "KmsKeyId",
    "AWS::SecretsManager::Secret": "KmsKeyId",
    "AWS::Lambda::Function": "KmsKeyArn",
}


def _properties(resource: Document) -> Document:
    properties: Document = resource.get("Properties", {})
    return properties


def check_without_key(source: Document, deployed: Document) -> None:
    """No resource names a key: DynamoDB's AWS managed key for the tables, SQS managed
    encryption for the queues (stated), and the AWS owned keys of CloudWatch Logs, Secrets
    Manager and Lambda for the rest."""
    for name, table in of_type(deployed, "AWS::DynamoDB::Table").items():
        assert _properties(table).get("SSESpecification") == {"SSEEnabled": True}, name
    for name, queue in of_type(deployed, "AWS::SQS::Queue").items():
        assert _properties(queue).get("SqsManagedSseEnabled") is True, name
    for kind, key_property in KEY_PROPERTIES.items():
        for name, resource in of_type(deployed, kind).items():
            assert key_property not in _properties(resource), (name, key_property)


def check_with_key(source: Document, deployed: Document) -> None:
    """Every table, queue, log group, secret and function uses the key, and each kind exists."""
    tables = of_type(deployed, "AWS::DynamoDB::Table")
    assert len(tables) == 5
    for name, table in tables.items():
        assert _properties(table).get("SSESpecification") == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": THE_KEY,
        }, name
    for name, queue in of_type(deployed, "AWS::SQS::Queue").items():
        assert _properties(queue).get("SqsManagedSseEnabled") is False, name
    functions = of_type(source, "AWS::Serverless::Function")
    log_groups = of_type(deployed, "AWS::Logs::LogGroup")
    assert len(log_groups) == len(functions) + 1  # and the API's access log
    for kind, key_property in KEY_PROPERTIES.items():
        resources = of_type(deployed, kind)
        assert resources, f"no {kind}"
        for name, resource in resources.items():
            assert _properties(resource).get(key_property) == THE_KEY, (name, key_property)


def _parameter(document: Document) -> Document:
    parameter: Document = document["Parameters"][KEY_PARAMETER]
    return parameter


# -- the template as it is -----------------------------------------------------------------


def test_given_no_key_when_deployed_then_everything_is_encrypted_with_aws_keys_and_queues_say_so(
    sam_document, without_key
):
    check_without_key(sam_document, without_key)


def test_given_a_customer_managed_key_when_deployed_then_tables_queues_logs_secret_and_functions_use_it(  # noqa: E501
    sam_document, with_key
):
    check_with_key(sam_document, with_key)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        (KMS_KEY_ARN, True),
        ("arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", True),
        ("arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-12", True),
        # IAM policies and log groups take the key's ARN, not an alias's or a bare key id.
        ("arn:aws:kms:us-east-1:111122223333:alias/notify-bindings", False),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", False),
        (KMS_KEY_ARN + " ", False),
    ],
)
def test_given_the_key_parameter_then_it_defaults_to_none_and_takes_only_a_key_arn(
    sam_document, value, accepted
):
    parameter = _parameter(sam_document)

    assert parameter["Type"] == "String"
    assert parameter["Default"] == ""
    assert bool(re.fullmatch(parameter["AllowedPattern"], value)) is accepted


# -- the checks notice a broken template -------------------------------------------------

Check = Callable[[Document, Document], None]


def _resource(document: Document, name: str) -> Document:
    properties: Document = document["Resources"][name]["Properties"]
    return properties


# breakage -> (the check that must notice, what it says, the key it is deployed with, how to
# break the template)
BREAKAGES: dict[str, tuple[Check, str, str, Callable[[Document], Any]]] = {
    "a queue's encryption left to SQS's default": (
        check_without_key,
        r"DeadTokenQueue",
        "",
        lambda d: _resource(d, "DeadTokenQueue").pop("SqsManagedSseEnabled"),
    ),
    "a queue with SQS's own encryption beside the key": (
        check_with_key,
        r"ServicePurgeQueue",
        KMS_KEY_ARN,
        lambda d: _resource(d, "ServicePurgeQueue").update(SqsManagedSseEnabled=True),
    ),
    "a queue without the key": (
        check_with_key,
        r"ChangeEventsDeadLetterQueue', 'KmsMasterKeyId",
        KMS_KEY_ARN,
        lambda d: _resource(d, "ChangeEventsDeadLetterQueue").pop("KmsMasterKeyId"),
    ),
    "a table without the key": (
        check_with_key,
        r"AccountsTable",
        KMS_KEY_ARN,
        lambda d: _resource(d, "AccountsTable")["SSESpecification"].pop("KMSMasterKeyId"),
    ),
    "a table on the key whether given or not": (
        check_without_key,
        r"ServicesTable",
        "",
        lambda d: _resource(d, "ServicesTable")["SSESpecification"].update(
            KMSMasterKeyId=THE_KEY, SSEType="KMS"
        ),
    ),
    "a function's log group without the key": (
        check_with_key,
        r"PurgeServiceFunctionLogGroup', 'KmsKeyId",
        KMS_KEY_ARN,
        lambda d: _resource(d, "PurgeServiceFunctionLogGroup").pop("KmsKeyId"),
    ),
    "the access log without the key": (
        check_with_key,
        r"ApiAccessLogGroup', 'KmsKeyId",
        KMS_KEY_ARN,
        lambda d: _resource(d, "ApiAccessLogGroup").pop("KmsKeyId"),
    ),
    "the page-token secret without the key": (
        check_with_key,
        r"PageTokenSecret', 'KmsKeyId",
        KMS_KEY_ARN,
        lambda d: _resource(d, "PageTokenSecret").pop("KmsKeyId"),
    ),
    "the functions' environment without the key": (
        check_with_key,
        r"Function', 'KmsKeyArn",
        KMS_KEY_ARN,
        lambda d: d["Globals"]["Function"].pop("KmsKeyArn"),
    ),
    "one function's environment under another key": (
        check_with_key,
        r"FetchUserFunction', 'KmsKeyArn",
        KMS_KEY_ARN,
        lambda d: _resource(d, "FetchUserFunction").update(
            KmsKeyArn=KMS_KEY_ARN.replace("1234abcd", "5678efab")
        ),
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_given_a_template_broken_in_one_way_when_deployed_then_its_check_fails(
    sam_document, translate, breakage
):
    check, complaint, key, break_it = BREAKAGES[breakage]
    broken = copy.deepcopy(sam_document)
    break_it(broken)
    deployed = with_conditions_decided(translate(broken), {KEY_PARAMETER: key})

    with pytest.raises(AssertionError, match=complaint):
        check(broken, deployed)
