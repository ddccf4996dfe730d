"""The template's functions in this process against moto, as the benchmarks run them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from local_api.runtime import (
    LocalFunctions,
    LocalQueue,
    create_event_buses,
    create_keys,
    create_queues,
    create_secrets,
    create_tables,
    dynamodb_client,
    events_client,
    kms_client,
    secretsmanager_client,
    sqs_client,
)
from local_api.template import SamTemplate


@dataclass(frozen=True)
class Started:
    functions: LocalFunctions
    tables: dict[str, str]  # logical id -> table name
    queues: dict[str, LocalQueue]


def start_functions(
    template: SamTemplate,
    endpoint: str | None,
    overrides: Mapping[str, str] | None = None,
    extra_tables: Mapping[str, str] | None = None,
) -> Started:
    """Creates the template's tables, queues, event buses and secrets in the moto server at
    `endpoint` (None: moto's in-process mock) and starts its functions against them, as the
    local API does (`overrides` replace variables of their environment; `extra_tables` are
    more tables for them to name)."""
    tables = {**create_tables(dynamodb_client(endpoint), template), **(extra_tables or {})}
    queues = create_queues(sqs_client(endpoint), template)
    functions = LocalFunctions.start(
        template,
        endpoint,
        tables,
        overrides,
        queues=queues,
        sqs_endpoint_url=endpoint,
        event_buses=create_event_buses(events_client(endpoint), template)
        | create_keys(kms_client(endpoint), template),
        secrets=create_secrets(secretsmanager_client(endpoint), template),
    )
    return Started(functions, tables, queues)
