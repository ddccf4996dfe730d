"""Test set-up that suites share: bindings built the way
`notify_bindings.operations.bindings.new_binding` builds them, for tests that call the store
directly, and the Services that the store requires them to be in; the functions' own account
table; and the Basic credentials a client sends."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from notify_bindings import dependencies
from notify_bindings.dal.accounts import AccountStore
from notify_bindings.dal.bindings.store import BindingStore
from notify_bindings.dal.dynamo import DynamoDBClient
from notify_bindings.dal.services import ServiceStore
from notify_bindings.domain.bindings import (
    DEFAULT_PROTOCOL_VERSION,
    Binding,
    BindingType,
    PutResult,
)
from notify_bindings.domain.services import Service
from notify_bindings.platform.sids import new_binding_sid, new_sid

ACCOUNT_SID = "AC" + "0" * 32


def new_binding(
    service_sid: str,
    identity: str,
    address: str,
    *,
    account_sid: str = ACCOUNT_SID,
    binding_type: BindingType = BindingType.APN,
    tags: tuple[str, ...] = (),
    credential_sid: str | None = None,
    notification_protocol_version: str | None = None,
) -> Binding:
    created = datetime.now(UTC)
    return Binding(
        sid=new_binding_sid(created),
        account_sid=account_sid,
        service_sid=service_sid,
        identity=identity,
        binding_type=binding_type,
        address=address,
        tags=tuple(dict.fromkeys(tags)),
        credential_sid=credential_sid if binding_type.takes_credential else None,
        notification_protocol_version=(
            (notification_protocol_version or DEFAULT_PROTOCOL_VERSION)
            if binding_type.is_push
            else None
        ),
        date_created=created.replace(microsecond=created.microsecond // 1000 * 1000),
    )


def sample_binding(**changes: object) -> Binding:
    """A binding of fixed, readable values (an apn binding of alice's, tagged b and a, created
    2024-01-02T03:04:05.678Z), but for the `changes` given: for tests of what a binding is."""
    fields: dict[str, object] = {
        "sid": "BS" + "1" * 32,
        "account_sid": "AC" + "2" * 32,
        "service_sid": "IS" + "3" * 32,
        "identity": "alice",
        "binding_type": BindingType.APN,
        "address": "token",
        "tags": ("b", "a"),
        "credential_sid": None,
        "notification_protocol_version": "3",
        "date_created": datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    }
    return Binding(**{**fields, **changes})  # type: ignore[arg-type]


def sample_service(**settings: object) -> Service:
    """A Service of fixed SIDs, created and updated 2024-01-02T03:04:05Z, with the `settings`
    given: for tests of what a Service is."""
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Service("IS" + "1" * 32, "AC" + "2" * 32, moment, moment, **settings)  # type: ignore[arg-type]


def put_binding(store: BindingStore, binding: Binding) -> PutResult:
    """Create exactly `binding` (SID and all) in its Service, as its account."""
    return store.put(binding.account_sid, binding.service_sid, binding.address, lambda _: binding)


def create_service(
    client: DynamoDBClient, services_table: str, account_sid: str = ACCOUNT_SID
) -> str:
    """A new live Service of the account, written through the ServiceStore; its SID."""
    now = datetime.now(UTC)
    service = Service(new_sid("IS"), account_sid, now, now)
    ServiceStore(client, services_table).create(service)
    return service.sid


def account_store() -> AccountStore:
    """The account table of the functions' environment, through their own DynamoDB client; auth
    tokens sealed with the template's credentials key, as the admin CLI seals them."""
    return AccountStore(
        dependencies.dynamodb(),
        dependencies.settings().accounts_table or "",
        sealer=dependencies.sealer() if dependencies.settings().credentials_key_id else None,
    )


def basic(username: str, password: str) -> str:
    """The Authorization header of HTTP Basic credentials, as Twilio's clients send it."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def new_credential(
    account_sid: str, kind: str = "fcm", friendly_name: str | None = None, *, sid: str | None = None
) -> str:
    """A real Credential of the account (its material checked and sealed as the API would), for
    tests that need a Service or a binding to name one; its SID."""
    from notify_bindings.dal.credentials import CredentialStore
    from notify_bindings.dal.sealing import Sealer
    from notify_bindings.domain.credentials import Credential, CredentialType
    from notify_bindings.platform.sids import time_ordered_sid
    from tests.providers.material import credential_material

    config = dependencies.settings()
    key_id = config.credentials_key_id
    assert key_id, "CREDENTIALS_KEY_ID: the template's credentials key is not in the environment"
    store = CredentialStore(
        dependencies.dynamodb(), config.services_table, Sealer(dependencies.kms(), key_id)
    )
    now = datetime.now(UTC)
    if sid is not None and store.get(account_sid, sid) is not None:
        return sid  # a fixed SID a test made already
    credential = Credential(
        sid or time_ordered_sid("CR", now),
        account_sid,
        CredentialType("apn" if kind == "apn-token" else kind),
        now,
        now,
        friendly_name,
        sandbox=False if kind.startswith("apn") else None,
    )
    store.create(credential, credential_material(kind))
    return credential.sid
