"""Settings read once from the environment the template gives every function.

A named tuple checked here rather than a pydantic model: the authorizer validates nothing
else, and without pydantic its cold start is that of botocore and a client (pydantic's import
and first model would add about half as much again). Not a dataclass either: a dataclass
compiles its methods when its module is imported, a cost of every function's cold start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple


class InvalidSettings(ValueError):
    """The environment lacks a setting, or gives one a value it cannot have."""


class Settings(NamedTuple):
    bindings_table: str
    binding_index_table: str
    services_table: str
    accounts_table: str | None
    page_token_secret: str
    # Where deleted Services are handed over to have their bindings purged.
    service_purge_queue_url: str | None
    auth_cache_seconds: int
    # Any DynamoDB-compatible endpoint (the local API's embedded server, DynamoDB Local), and
    # an SQS-compatible one; both unset in AWS.
    dynamodb_endpoint_url: str | None
    sqs_endpoint_url: str | None
    # The EventBridge bus change events go to (the change-events function only), and an
    # EventBridge-compatible endpoint (unset in AWS).
    change_event_bus_name: str | None
    events_endpoint_url: str | None
    # The KMS key that seals credentials and auth tokens, and a KMS-compatible endpoint (unset
    # in AWS).
    credentials_key_id: str | None
    kms_endpoint_url: str | None
    # Public base URL when the API sits behind a custom domain; otherwise derived per request.
    public_base_url: str | None
    # The API's routes ("POST /v1/Services/{ServiceSid}/Bindings, ..."), for telling a wrong
    # method (405) from a wrong path (404) on requests that match none of them.
    api_routes: tuple[str, ...]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings `environ` (os.environ by default) gives; an empty variable is unset.
        InvalidSettings names every variable that is missing or wrong."""
        variables = _Variables(os.environ if environ is None else environ)
        settings = cls(
            bindings_table=variables.text("BINDINGS_TABLE", min_length=3),
            binding_index_table=variables.text("BINDING_INDEX_TABLE", min_length=3),
            services_table=variables.text("SERVICES_TABLE", min_length=3),
            accounts_table=variables.optional("ACCOUNTS_TABLE"),
            page_token_secret=variables.text("PAGE_TOKEN_SECRET", min_length=16),
            service_purge_queue_url=variables.optional("SERVICE_PURGE_QUEUE_URL"),
            auth_cache_seconds=variables.whole_number("AUTH_CACHE_SECONDS", default=60),
            dynamodb_endpoint_url=variables.optional("DYNAMODB_ENDPOINT_URL"),
            sqs_endpoint_url=variables.optional("SQS_ENDPOINT_URL"),
            change_event_bus_name=variables.optional("CHANGE_EVENT_BUS_NAME"),
            events_endpoint_url=variables.optional("EVENTS_ENDPOINT_URL"),
            credentials_key_id=variables.optional("CREDENTIALS_KEY_ID"),
            kms_endpoint_url=variables.optional("KMS_ENDPOINT_URL"),
            public_base_url=variables.optional("PUBLIC_BASE_URL"),
            api_routes=variables.comma_separated("API_ROUTES"),
        )
        if variables.problems:
            raise InvalidSettings("; ".join(variables.problems))
        return settings


class _Variables:
    """Environment variables read as settings, collecting what is wrong with them."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def optional(self, name: str) -> str | None:
        return self._environ.get(name) or None

    def text(self, name: str, *, min_length: int) -> str:
        value = self._environ.get(name, "")
        if not value:
            self.problems.append(f"{name} is not set")
        elif len(value) < min_length:
            self.problems.append(f"{name} must have at least {min_length} characters")
        return value

    def whole_number(self, name: str, *, default: int) -> int:
        value = self._environ.get(name) or str(default)
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            self.problems.append(f"{name} must be a whole number, 0 or more")
        return number

    def comma_separated(self, name: str) -> tuple[str, ...]:
        value = self._environ.get(name, "")
        return tuple(part.strip() for part in value.split(",") if part.strip())
