"""Secrets Manager: the value of a secret of the stack (the key that signs page tokens). When
Secrets Manager does not answer - throttled, failing, out of reach - the request is answered
503 (Unavailable), as when DynamoDB is down, never 500: throttling here is the deployment's
quota, not the caller's rate, so not a 429 the caller could act on."""

from __future__ import annotations

from typing import Any

from notify_bindings.dal.dynamo import translated_errors
from notify_bindings.platform.errors import Throttled, Unavailable

SecretsManagerClient = Any  # a botocore Secrets Manager client
MIN_SECRET_LENGTH = 16


class SecretTooShort(RuntimeError):
    """The secret holds less than a key's worth of text: a deployment error, not a client's."""


def secret_string(client: SecretsManagerClient, secret_id: str) -> str:
    """The current value of the secret `secret_id` (its ARN), as text."""
    try:
        with translated_errors():
            value = str(client.get_secret_value(SecretId=secret_id)["SecretString"])
    except Throttled as error:
        raise Unavailable() from error
    if len(value) < MIN_SECRET_LENGTH:
        raise SecretTooShort(f"the secret must have at least {MIN_SECRET_LENGTH} characters")
    return value
