"""template.yaml as CloudFormation: translated offline by the SAM translator, as `sam deploy`
would have CloudFormation translate it, with no AWS account and no network."""

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
