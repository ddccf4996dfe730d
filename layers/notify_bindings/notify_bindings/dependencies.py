"""The composition root: what handlers and operations depend on - the settings, the AWS
clients, the stores, the authenticator and the clock - built on first use and kept for the life
of the execution environment. Tests reset them between environments with `reset()`.

Cold start: each function imports only what its own requests use. The stores, the
authenticator and botocore's session are imported when first built, not here (the only imports
of the layer made inside functions, and so the only ones under TYPE_CHECKING, for their types:
tests/test_layering.py lists them), and clients come from botocore itself: boto3 adds nothing to
a client but its import (s3transfer among it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from notify_bindings.platform import deadline
from notify_bindings.platform.config import Settings

if TYPE_CHECKING:
    from botocore.session import Session

    from notify_bindings.api.auth import Authenticator
    from notify_bindings.dal.accounts import AccountStore
    from notify_bindings.dal.bindings.store import BindingStore
    from notify_bindings.dal.credentials import CredentialStore
    from notify_bindings.dal.notifications import NotificationStore
    from notify_bindings.dal.sealing import Sealer
    from notify_bindings.dal.services import ServiceStore
    from notify_bindings.operations.callbacks import SignedCallbacks
    from notify_bindings.operations.sending import Senders

# Sized so that a call that fails every attempt still fails within the 10 s the template gives
# a function: 3 attempts (botocore's "max_attempts" would count retries, not attempts) of at
# most 1 + 2 s, and back-offs of at most 0.075 s (3 s if throttled, which answers at once).
# DynamoDB answers in milliseconds; a 2 s wait means the answer is not coming. Beyond that,
# `deadline.guard` keeps every attempt within the invocation's remaining time.
CLIENT_RETRIES: Mapping[str, Any] = {"mode": "standard", "total_max_attempts": 3}
_CLIENT_CONFIG = Config(
    retries=dict(CLIENT_RETRIES),
    connect_timeout=1,
    read_timeout=2,
    tcp_keepalive=True,
)


def register_snapstart_hooks() -> None:
    """With SnapStart (EnableSnapStart), every execution environment restored from one snapshot
    starts with the state `random` was seeded with at init: each re-seeds it from os.urandom on
    restore, so that retries' jitter differs between them (SIDs, tokens and nonces come from
    `secrets` and os.urandom, which need nothing). No connection is opened at init: clients
    connect on first use. Lambda's Python runtimes provide snapshot_restore_py; elsewhere, and
    without SnapStart, nothing runs."""
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:
        return
    reseed: Callable[[], None] = random.seed
    register_after_restore(reseed)


register_snapstart_hooks()


@cache
def settings() -> Settings:
    return Settings.from_environ()


@cache
def aws_session() -> Session:
    """One botocore session for every client, as boto3's default session would be."""
    from botocore.session import get_session

    return get_session()


@cache
def dynamodb() -> Any:
    return deadline.guard(
        aws_session().create_client(
            "dynamodb", endpoint_url=settings().dynamodb_endpoint_url, config=_CLIENT_CONFIG
        )
    )


@cache
def sqs() -> Any:
    return deadline.guard(
        aws_session().create_client(
            "sqs", endpoint_url=settings().sqs_endpoint_url, config=_CLIENT_CONFIG
        )
    )


@cache
def events() -> Any:
    return deadline.guard(
        aws_session().create_client(
            "events", endpoint_url=settings().events_endpoint_url, config=_CLIENT_CONFIG
        )
    )


@cache
def kms() -> Any:
    return deadline.guard(
        aws_session().create_client(
            "kms", endpoint_url=settings().kms_endpoint_url, config=_CLIENT_CONFIG
        )
    )


@cache
def secretsmanager() -> Any:
    return deadline.guard(
        aws_session().create_client(
            "secretsmanager",
            endpoint_url=settings().secretsmanager_endpoint_url,
            config=_CLIENT_CONFIG,
        )
    )


@cache
def sealer() -> Sealer:
    """Envelope encryption with the credentials key: sealing needs kms:GenerateDataKey on it,
    opening kms:Decrypt, which only the functions that deliver are given."""
    from notify_bindings.dal.sealing import Sealer

    key_id = settings().credentials_key_id
    if key_id is None:
        raise RuntimeError("CREDENTIALS_KEY_ID is not set: there is no key to seal with")
    return Sealer(kms(), key_id)


@cache
def account_tokens() -> AccountStore:
    """The accounts, able to open their sealed auth tokens: what signs delivery callbacks."""
    from notify_bindings.dal.accounts import AccountStore

    config = settings()
    if config.accounts_table is None:
        raise RuntimeError("ACCOUNTS_TABLE is not set: there are no auth tokens to open")
    return AccountStore(dynamodb(), config.accounts_table, sealer=sealer())


@cache
def page_token_secret() -> str:
    """The key that signs page tokens, read from Secrets Manager once per execution environment
    (a failure is not kept: the next request tries again). Throttled or Unavailable, as for
    DynamoDB, when Secrets Manager does not answer."""
    from notify_bindings.dal.secrets import secret_string

    arn = settings().page_token_secret_arn
    if arn is None:
        raise RuntimeError("PAGE_TOKEN_SECRET_ARN is not set: this function signs no page tokens")
    return secret_string(secretsmanager(), arn)


@cache
def binding_store() -> BindingStore:
    from notify_bindings.dal.bindings.store import BindingStore

    config = settings()
    return BindingStore(
        dynamodb(),
        config.bindings_table,
        config.binding_index_table,
        config.services_table,
        clock=lambda: now().timestamp(),  # the clock creates stamp bindings with
    )


@cache
def service_store() -> ServiceStore:
    from notify_bindings.dal.services import ServiceStore

    return ServiceStore(dynamodb(), settings().services_table)


@cache
def notification_store() -> NotificationStore:
    from notify_bindings.dal.notifications import NotificationStore

    table = settings().notifications_table
    if table is None:
        raise RuntimeError("NOTIFICATIONS_TABLE is not set")
    return NotificationStore(dynamodb(), table)


@cache
def credential_store() -> CredentialStore:
    """Credentials, beside the Services; sealing when the function has the credentials key
    (those that create and update them, and those that deliver)."""
    from notify_bindings.dal.credentials import CredentialStore

    config = settings()
    sealing = sealer() if config.credentials_key_id is not None else None
    return CredentialStore(dynamodb(), config.services_table, sealing)


@cache
def authenticator() -> Authenticator:
    from notify_bindings.api.auth import Authenticator
    from notify_bindings.dal.accounts import AccountStore

    config = settings()
    if config.accounts_table is None:
        raise RuntimeError("ACCOUNTS_TABLE is not set: there are no credentials to check")
    store = AccountStore(dynamodb(), config.accounts_table)
    # Looked up at each use, so that tests can move it on.
    return Authenticator(store, config.auth_cache_seconds, clock=lambda: monotonic())


def credential_source() -> CredentialStore:
    """The delivering function's credentials (`operations/delivery.CredentialSource`): the
    store, opening them with the credentials key."""
    return credential_store()


@cache
def sender() -> Senders:
    """The delivering function's providers' clients (`operations/delivery.Sender`): one per
    execution environment, so that their connections and tokens outlive an invocation."""
    from notify_bindings.operations.sending import Senders

    return Senders.from_settings(settings())


@cache
def callback_reporter() -> SignedCallbacks:
    """The delivering function's callbacks (`operations/delivery.CallbackReporter`), signed
    with each account's auth token; to public https addresses only, but locally."""
    from notify_bindings.operations.callbacks import DeliveryCallbacks, SignedCallbacks
    from notify_bindings.providers.webhooks import CallbackPoster

    poster = CallbackPoster(allow_local=settings().allow_local_callbacks)
    return SignedCallbacks(DeliveryCallbacks(poster), account_tokens().auth_token)


def now() -> datetime:
    """The time of day: it dates what is created, and decides what has expired."""
    return datetime.now(UTC)


def monotonic() -> float:
    """Seconds that only ever move on: how long proven credentials are remembered."""
    return time.monotonic()


def reset() -> None:
    for dependency in (
        settings,
        aws_session,
        dynamodb,
        sqs,
        events,
        kms,
        sealer,
        account_tokens,
        secretsmanager,
        page_token_secret,
        binding_store,
        service_store,
        notification_store,
        credential_store,
        authenticator,
        callback_reporter,
    ):
        dependency.cache_clear()
    if sender.cache_info().currsize:
        sender().close()
    sender.cache_clear()
