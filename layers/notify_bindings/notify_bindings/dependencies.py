"""What handlers depend on, built on first use and kept for the life of the execution
environment. Tests reset them between environments with `reset()`."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from notify_bindings import deadline
from notify_bindings.account_store import AccountStore
from notify_bindings.auth import Authenticator
from notify_bindings.config import Settings
from notify_bindings.service_store import ServiceStore
from notify_bindings.store import BindingStore
from notify_bindings.tokens import PageTokens

# Sized so that a call that fails every attempt still fails within the 10 s the template gives
# a function: 3 attempts (botocore's "max_attempts" would count retries, not attempts) of at
# most 1 + 2 s, and back-offs of at most 0.075 s (3 s if throttled, which answers at once).
# DynamoDB answers in milliseconds; a 2 s wait means the answer is not coming. Beyond that,
# `deadline.guard` keeps every attempt within the invocation's remaining time.
_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=1,
    read_timeout=2,
    tcp_keepalive=True,
)


@cache
def settings() -> Settings:
    return Settings.from_environ()


@cache
def dynamodb() -> Any:
    return deadline.guard(
        boto3.client(
            "dynamodb", endpoint_url=settings().dynamodb_endpoint_url, config=_CLIENT_CONFIG
        )
    )


@cache
def sqs() -> Any:
    return deadline.guard(
        boto3.client("sqs", endpoint_url=settings().sqs_endpoint_url, config=_CLIENT_CONFIG)
    )


@cache
def binding_store() -> BindingStore:
    config = settings()
    return BindingStore(
        dynamodb(), config.bindings_table, config.binding_index_table, config.services_table
    )


@cache
def service_store() -> ServiceStore:
    return ServiceStore(dynamodb(), settings().services_table)


@cache
def page_tokens() -> PageTokens:
    return PageTokens(settings().page_token_secret)


@cache
def authenticator() -> Authenticator:
    config = settings()
    if config.accounts_table is None:
        raise RuntimeError("ACCOUNTS_TABLE is not set: there are no credentials to check")
    store = AccountStore(dynamodb(), config.accounts_table)
    return Authenticator(store, config.auth_cache_seconds)


def now() -> datetime:
    return datetime.now(UTC)


def reset() -> None:
    for dependency in (
        settings,
        dynamodb,
        sqs,
        binding_store,
        service_store,
        page_tokens,
        authenticator,
    ):
        dependency.cache_clear()
