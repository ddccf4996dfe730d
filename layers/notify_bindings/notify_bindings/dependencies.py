"""What handlers depend on, built on first use and kept for the life of the execution
environment. Tests reset them between environments with `reset()`."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import boto3
from botocore.config import Config

from notify_bindings.config import Settings
from notify_bindings.store import BindingStore
from notify_bindings.tokens import PageTokens


@cache
def settings() -> Settings:
    return Settings.from_environ()


@cache
def binding_store() -> BindingStore:
    config = settings()
    client = boto3.client(
        "dynamodb",
        endpoint_url=config.dynamodb_endpoint_url,
        config=Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=2,
            read_timeout=5,
            tcp_keepalive=True,
        ),
    )
    return BindingStore(client, config.bindings_table, config.binding_index_table)


@cache
def page_tokens() -> PageTokens:
    return PageTokens(settings().page_token_secret)


def now() -> datetime:
    return datetime.now(UTC)


def reset() -> None:
    for dependency in (settings, binding_store, page_tokens):
        dependency.cache_clear()
