"""The key that signs page tokens: a secret of the stack, never a value in any function's
environment (readable with lambda:GetFunctionConfiguration), its ARN given only to the
functions that sign or check tokens - the lists - and readable by them alone."""

from __future__ import annotations

import json
from typing import Any

from local_api.template import SamTemplate

SECRET = "PageTokenSecret"
LISTS = {
    "ListServicesFunction",
    "ListCredentialsFunction",
    "ListBindingsFunction",
    "ListUserBindingsFunction",
    "ListUsersFunction",
}


def _mentions_secret(value: Any) -> bool:
    text = json.dumps(value)
    return SECRET in text or "resolve:secretsmanager" in text


def test_given_the_template_then_no_function_environment_holds_the_secrets_value(
    template: SamTemplate,
):
    for name, function in template.functions.items():
        for variable, value in function.environment.items():
            if variable == "PAGE_TOKEN_SECRET_ARN":
                assert value == {"Ref": SECRET}, name  # its ARN, not its value
            else:
                assert not _mentions_secret(value), (name, variable)
            assert "resolve:" not in json.dumps(value), (name, variable)


def test_given_the_template_then_only_the_lists_know_where_the_secret_is(template: SamTemplate):
    knowing = {
        name
        for name, function in template.functions.items()
        if "PAGE_TOKEN_SECRET_ARN" in function.environment
    }

    assert knowing == LISTS
    assert "AuthorizerFunction" not in knowing


def test_given_the_secret_then_it_is_generated_and_on_the_customer_key_when_given(
    template: SamTemplate,
):
    secret = template.resources[SECRET]

    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert secret["Properties"]["KmsKeyId"] == {
        "Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]
    }
