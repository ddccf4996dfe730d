"""Settings read once from the environment the template gives every function."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from notify_bindings.sids import ACCOUNT_SID_PATTERN


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
    # Until accounts exist every binding belongs to this one account.
    account_sid: Annotated[str, Field(alias="NOTIFY_ACCOUNT_SID", pattern=ACCOUNT_SID_PATTERN)]
    page_token_secret: Annotated[str, Field(alias="PAGE_TOKEN_SECRET", min_length=16)]
    # Any DynamoDB-compatible endpoint (the local API's embedded server, DynamoDB Local).
    dynamodb_endpoint_url: Annotated[str | None, Field(alias="DYNAMODB_ENDPOINT_URL")] = None
    # Public base URL when the API sits behind a custom domain; otherwise derived per request.
    public_base_url: Annotated[str | None, Field(alias="PUBLIC_BASE_URL")] = None
    # The API's routes ("POST /v1/Services/{ServiceSid}/Bindings, ..."), for telling a wrong
    # method (405) from a wrong path (404) on requests that match none of them.
    api_routes: Annotated[tuple[str, ...], Field(alias="API_ROUTES"), BeforeValidator(_split)] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        return cls.model_validate({key: value for key, value in source.items() if value != ""})
