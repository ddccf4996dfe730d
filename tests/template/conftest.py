"""template.yaml as CloudFormation: translated offline by the SAM translator, as `sam deploy`
would have CloudFormation translate it, with no AWS account and no network - and, for the checks
that depend on parameters, with its conditions decided as CloudFormation decides them for given
parameter values."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from local_api.template import SamTemplate

Document = dict[str, Any]
Translate = Callable[[Document], Document]

TRANSLATION_REGION = "us-east-1"
# A customer managed key, as a deployer would give it in KmsKeyArn.
KMS_KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NO_VALUE = {"Ref": "AWS::NoValue"}
# The translator accepts only code in S3; these stand in for what `sam package` uploads.
_ARTIFACT_BUCKET = "notify-bindings-artifacts"
_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def with_code_in_s3(document: Document) -> Document:
    """A copy of `document` whose local CodeUri/ContentUri values are fake s3:// URIs."""
    document = copy.deepcopy(document)
    global_function = document.get("Globals", {}).get("Function", {})
    if isinstance(global_function.get("CodeUri"), str):
        global_function["CodeUri"] = f"s3://{_ARTIFACT_BUCKET}/globals.zip"
    for logical_id, resource in document["Resources"].items():
        code_property = _CODE_PROPERTIES.get(resource["Type"])
        properties = resource.get("Properties", {})
        location = properties.get(code_property)
        if isinstance(location, str) and not location.startswith("s3://"):
            properties[code_property] = f"s3://{_ARTIFACT_BUCKET}/{logical_id}.zip"
    return document


def translate_sam(document: Document) -> Document:
    """The CloudFormation that the SAM transform makes of `document`."""
    session = boto3.session.Session(region_name=TRANSLATION_REGION)
    translator = Translator(None, Parser(), boto_session=session)
    translated: Document = translator.translate(
        with_code_in_s3(document),
        parameter_values={},
        # Only needed for managed policy names; the template names none.
        get_managed_policy_map=lambda: {},
    )
    return translated


def condition_values(document: Document, parameters: dict[str, str]) -> dict[str, bool]:
    """Each of the template's Conditions, as CloudFormation decides it when the parameters take
    `parameters` (the others their defaults)."""
    values = {
        name: spec.get("Default") for name, spec in document.get("Parameters", {}).items()
    } | parameters
    unknown = set(parameters) - set(document.get("Parameters", {}))
    assert not unknown, f"the template has no parameters {unknown}"
    conditions: dict[str, Any] = document.get("Conditions", {})
    decided: dict[str, bool] = {}

    def evaluate(expression: Any) -> Any:
        if not isinstance(expression, dict):
            return expression
        ((function, argument),) = expression.items()
        if function == "Ref":
            return values[argument]
        if function == "Condition":
            return decide(argument)
        if function == "Fn::Equals":
            left, right = (evaluate(operand) for operand in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            (operand,) = argument
            return not evaluate(operand)
        if function == "Fn::And":
            return all(evaluate(operand) for operand in argument)
        if function == "Fn::Or":
            return any(evaluate(operand) for operand in argument)
        raise AssertionError(f"a condition function these tests do not decide: {function}")

    def decide(name: str) -> bool:
        if name not in decided:
            decided[name] = bool(evaluate(conditions[name]))
        return decided[name]

    return {name: decide(name) for name in conditions}


def with_conditions_decided(document: Document, parameters: dict[str, str]) -> Document:
    """A copy of `document` (a translated template) as CloudFormation deploys it with
    `parameters`: each Fn::If replaced by the branch its condition picks, AWS::NoValue removed,
    and the resources whose Condition is false left out. Refs stay as they are."""
    decided = condition_values(document, parameters)

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            resolved_items = [resolve(item) for item in value]
            return [item for item in resolved_items if item != NO_VALUE]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Fn::If"}:
            condition, if_true, if_false = value["Fn::If"]
            return resolve(if_true if decided[condition] else if_false)
        items = {key: resolve(item) for key, item in value.items()}
        return {key: item for key, item in items.items() if item != NO_VALUE}

    resolved: Document = resolve(copy.deepcopy(document))
    resolved["Resources"] = {
        name: resource
        for name, resource in resolved["Resources"].items()
        if "Condition" not in resource or decided[resource["Condition"]]
    }
    return resolved


@pytest.fixture(scope="session")
def translate() -> Translate:
    return translate_sam


@pytest.fixture(scope="session")
def sam_document(template: SamTemplate) -> Document:
    """The template as written (a copy: tests may not change the session's template)."""
    return copy.deepcopy(template.document)


@pytest.fixture(scope="session")
def cloudformation(sam_document: Document) -> Document:
    return translate_sam(sam_document)


@pytest.fixture(scope="session")
def without_key(cloudformation: Document) -> Document:
    """What CloudFormation deploys with KmsKeyArn left empty: AWS managed and owned keys."""
    return with_conditions_decided(cloudformation, {"KmsKeyArn": ""})


@pytest.fixture(scope="session")
def with_key(cloudformation: Document) -> Document:
    """What CloudFormation deploys with a customer managed key in KmsKeyArn."""
    return with_conditions_decided(cloudformation, {"KmsKeyArn": KMS_KEY_ARN})
