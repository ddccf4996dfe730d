"""Settings read once from the environment the template gives every function."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _split(value: object) -> object:
    return (
        [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, str)
        else value
    )


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    bindings_table: Annotated[str, Field(alias="BINDINGS_TABLE", min_length=3)]
    binding_index_table: Annotated[str, Field(alias="BINDING_INDEX_TABLE", min_length=3)]
    services_table: Annotated[str, Field(alias="SERVICES_TABLE", min_length=3)]
    accounts_table: Annotated[str | None, Field(alias="ACCOUNTS_TABLE")] = None
    page_token_secret: Annotated[str, Field(alias="PAGE_TOKEN_SECRET", min_length=16)]
    # Where deleted Services are handed over to have their bindings purged.
    service_purge_queue_url: Annotated[str | None, Field(alias="SERVICE_PURGE_QUEUE_URL")] = None
    auth_cache_seconds: Annotated[int, Field(alias="AUTH_CACHE_SECONDS", ge=0)] = 60
    # Any DynamoDB-compatible endpoint (the local API's embedded server, DynamoDB Local), and
    # an SQS-compatible one; both unset in AWS.
    dynamodb_endpoint_url: Annotated[str | None, Field(alias="DYNAMODB_ENDPOINT_URL")] = None
    sqs_endpoint_url: Annotated[str | None, Field(alias="SQS_ENDPOINT_URL")] = None
    # Public base URL when the API sits behind a custom domain; otherwise derived per request.
    public_base_url: Annotated[str | None, Field(alias="PUBLIC_BASE_URL")] = None
    # The API's routes ("POST /v1/Services/{ServiceSid}/Bindings, ..."), for telling a wrong
    # method (405) from a wrong path (404) on requests that match none of them.
    api_routes: Annotated[tuple[str, ...], Field(alias="API_ROUTES"), BeforeValidator(_split)] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        return cls.model_validate({key: value for key, value in source.items() if value != ""})
