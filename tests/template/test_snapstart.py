"""SnapStart (EnableSnapStart) and the versions it needs: every function is published behind
the alias `live`, which everything that invokes a function invokes; a new version is published
whenever anything of a function changes, a new build of the shared layer included; the version
an update replaces is deleted (with SnapStart, a kept one would go on being billed for its
snapshot's cache). Checked on the template as the SAM translator turns it into CloudFormation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.template.conftest import Document, Translate, with_conditions_decided

ALIAS = "live"


def _of_type(document: Document, kind: str) -> dict[str, Document]:
    return {name: r for name, r in document["Resources"].items() if r["Type"] == kind}


def _versions(translated: Document) -> dict[str, str]:
    """Function -> the logical id of the version its alias points at."""
    found = {}
    for alias in _of_type(translated, "AWS::Lambda::Alias").values():
        properties = alias["Properties"]
        assert properties["Name"] == ALIAS
        found[properties["FunctionName"]["Ref"]] = properties["FunctionVersion"]["Fn::GetAtt"][0]
    return found


def _with_layer_built_again(document: Document) -> Document:
    """The same template after a new build of the shared layer: only its content moved."""
    rebuilt = copy.deepcopy(document)
    (layer,) = (
        resource
        for resource in rebuilt["Resources"].values()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    )
    layer["Properties"]["ContentUri"] = "s3://notify-bindings-artifacts/layer-rebuilt.zip"
    return rebuilt


def _invoked(value: Any) -> list[Any]:
    """The FunctionName of every event source mapping and permission in `value`."""
    return [
        resource["Properties"]["FunctionName"]
        for resource in value["Resources"].values()
        if resource["Type"] in ("AWS::Lambda::EventSourceMapping", "AWS::Lambda::Permission")
    ]


def test_given_the_template_then_every_function_is_published_behind_its_alias(cloudformation):
    functions = _of_type(cloudformation, "AWS::Lambda::Function")
    versions = _versions(cloudformation)

    assert set(versions) == set(functions)
    for function, version in versions.items():
        resource = cloudformation["Resources"][version]
        assert resource["Type"] == "AWS::Lambda::Version"
        assert resource["Properties"]["FunctionName"] == {"Ref": function}
        assert resource["DeletionPolicy"] == "Delete", function


def test_given_the_template_then_queues_streams_routes_and_the_authorizer_invoke_aliases(
    cloudformation,
):
    aliases = _of_type(cloudformation, "AWS::Lambda::Alias")
    invoked = _invoked(cloudformation)

    # Each function is invoked (by a route, a queue, a stream or API Gateway's authorizer
    # calls), and only ever through its alias.
    assert [name for name in invoked if name.get("Ref") not in aliases] == []
    assert {name["Ref"] for name in invoked} == set(aliases)


@pytest.mark.parametrize(("enabled", "applied"), [("false", "None"), ("true", "PublishedVersions")])
def test_given_enable_snapstart_then_every_function_has_snapstart_as_it_says(
    cloudformation, enabled, applied
):
    deployed = with_conditions_decided(cloudformation, {"EnableSnapStart": enabled})

    functions = _of_type(deployed, "AWS::Lambda::Function")

    assert {name: f["Properties"]["SnapStart"] for name, f in functions.items()} == {
        name: {"ApplyOn": applied} for name in functions
    }


def test_given_the_parameter_then_snapstart_is_off_by_default(sam_document):
    parameter = sam_document["Parameters"]["EnableSnapStart"]

    assert parameter["Default"] == "false"
    assert sorted(parameter["AllowedValues"]) == ["false", "true"]


def test_given_the_same_template_translated_twice_then_no_version_is_published(
    sam_document, translate: Translate
):
    assert _versions(translate(sam_document)) == _versions(translate(sam_document))


def test_given_only_the_layer_rebuilt_then_every_function_publishes_a_new_version(
    sam_document, translate: Translate
):
    before = _versions(translate(sam_document))

    after = _versions(translate(_with_layer_built_again(sam_document)))

    assert set(after) == set(before)
    assert {name for name in before if after[name] == before[name]} == set()


@pytest.mark.parametrize(
    "removed",
    [
        ("Globals", "Function", "AutoPublishAliasAllProperties"),
        ("Resources", "BindingsLayer", "Properties", "PublishLambdaVersion"),
    ],
    ids=lambda path: path[-1],
)
def test_given_either_setting_removed_then_a_layer_rebuild_publishes_nothing(
    sam_document, translate: Translate, removed
):
    # Why the template sets both: SAM hashes only the code of a function into its version
    # otherwise, so that a function would keep running its old layer.
    document = copy.deepcopy(sam_document)
    *parents, name = removed
    container = document
    for parent in parents:
        container = container[parent]
    del container[name]

    before = _versions(translate(document))
    after = _versions(translate(_with_layer_built_again(document)))

    assert after == before
