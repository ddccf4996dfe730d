"""What the sample events in events/ name, put into the tables, so that each event does what its
name says when a function is invoked with it: `make run` seeds them at start, `make fixtures`
again into a running `make run`, `make invoke` before each invocation, and the events tests
before theirs.

The events act as one fixed account, whose SID and auth token their Basic credentials carry,
in one fixed Service; the binding events name one fixed binding of it. The delete_service event
deletes another fixed Service, which the purge_service event then purges; the publish_changes
event's stream records are of a third. Seeding is idempotent: the account gets its token
again, a live Service stays as it is, a missing or deleted one is made anew, and the bindings
are put back with their SIDs (putting a binding identical to the live one changes nothing).
Everything goes through the layer, to the tables and endpoints the functions' environment
names: the layer must be importable (runtime.put_layers_on_path) and that environment set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local_api.template import PROJECT_ROOT, Function, SamTemplate

if TYPE_CHECKING:
    from notify_bindings.domain.bindings import Binding

EVENTS_DIR = PROJECT_ROOT / "events"
# Who the events act as: the account the authorizer proves from their Basic credentials.
EVENT_ACCOUNT_SID = "AC5d3e9a1f7b2c48e6a0d4f81c9b3e2a76"
# Public in events/, and so good for the local tables only.
EVENT_AUTH_TOKEN = "0f8e2d6c4a1b9e7d3c5a8f2e6d4b1a90"  # noqa: S105 - public  # nosec B105
EVENT_ACCOUNT_NAME = "Sample events"
# The Service of the events' bindings; the list_services event selects it by its name.
EVENT_SERVICE_SID = "IS446afbd60b0278f6472b14c8dba95409"
EVENT_SERVICE_NAME = "Sample alerts"
# The Service that the delete_service event deletes and the purge_service event purges.
DELETED_SERVICE_SID = "IS9c1e7d3a5b8f42e6d0a4c7b1e3f5d829"
# What the purge finds in that Service: one binding (SIDs begin with their creation time).
PURGED_BINDING_SID = "BS019bc1080696000000000000000000a1"
# Who the bindings that the events name belong to; the list and User events select them.
# The Credential the fetch, update and delete events name: Twilio Messaging (sms), whose
# made-up secret needs no key material.
EVENT_CREDENTIAL_SID = "CR0f6d3b8e2a9c4f1d7e5b3a8c6d2e9f41"
EVENT_IDENTITY = "alice"
EVENT_TAG = "premium"
# The operations (event file names) that need more than the shared fixtures.
DELETE_SERVICE = "delete_service"
PURGE_SERVICE = "purge_service"


def event_file(function: Function) -> Path:
    """The sample event of a function: events/<operation>.json, its CodeUri's name."""
    return EVENTS_DIR / f"{function.code_dir.name}.json"


def load_event(function: Function) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(event_file(function).read_text())
    return event


def seed_event_fixtures(template: SamTemplate, operation: str | None = None) -> list[Binding]:
    """Put what every sample event names into the tables, and what `operation`'s event needs
    besides (the purge_service event: its Service deleted, holding a binding); returns the
    bindings that the events name, as stored."""
    from notify_bindings import dependencies
    from notify_bindings.dal.accounts import AccountStore

    settings = dependencies.settings()
    if settings.accounts_table is None:
        raise ValueError("ACCOUNTS_TABLE is not set: the events' account has nowhere to go")
    sealer = dependencies.sealer() if settings.credentials_key_id else None
    AccountStore(dependencies.dynamodb(), settings.accounts_table, sealer=sealer).create_account(
        EVENT_ACCOUNT_NAME, account_sid=EVENT_ACCOUNT_SID, auth_token=EVENT_AUTH_TOKEN
    )
    _seed_service(EVENT_SERVICE_SID, friendly_name=EVENT_SERVICE_NAME)
    for service_sid in sorted(_stream_services(template)):
        _seed_service(service_sid)
    bindings = [
        _put(_binding(service_sid, sid)) for service_sid, sid in sorted(_named_bindings(template))
    ]
    _seed_service(DELETED_SERVICE_SID)
    _seed_notifications(template)
    _seed_credential()
    if operation == PURGE_SERVICE:  # as the delete_service event leaves it for the purge
        _put(_binding(DELETED_SERVICE_SID, PURGED_BINDING_SID))
        dependencies.service_store().mark_deleted(
            EVENT_ACCOUNT_SID, DELETED_SERVICE_SID, dependencies.now()
        )
    return bindings


def _seed_notifications(template: SamTemplate) -> None:
    """The notification the fetch, resolve and deliver events name, to the events' identity,
    with no callback (left as it is when it is there)."""
    from notify_bindings import dependencies
    from notify_bindings.domain.notifications import Notification

    if dependencies.settings().notifications_table is None:
        return
    store = dependencies.notification_store()
    for event in _route_events(template):
        sid = (event.get("pathParameters") or {}).get("Sid", "")
        if not sid.startswith("NT") or store.get(EVENT_ACCOUNT_SID, EVENT_SERVICE_SID, sid):
            continue
        store.create(
            Notification(
                sid,
                EVENT_ACCOUNT_SID,
                EVENT_SERVICE_SID,
                dependencies.now(),
                identities=(EVENT_IDENTITY,),
                body="Hi",
            )
        )


def _seed_service(service_sid: str, **settings: Any) -> None:
    """The Service, live in the events' account: left as it is when it is, else made anew."""
    from notify_bindings import dependencies
    from notify_bindings.domain.services import Service

    store = dependencies.service_store()
    if store.get(EVENT_ACCOUNT_SID, service_sid) is not None:
        return
    store.remove(EVENT_ACCOUNT_SID, service_sid)  # what is left of a deleted one, if anything
    now = dependencies.now()
    store.create(Service(service_sid, EVENT_ACCOUNT_SID, now, now, **settings))


def _seed_credential() -> None:
    """The events' Credential, made anew (sealed) unless it is there."""
    from notify_bindings import dependencies
    from notify_bindings.dal.credentials import CredentialStore
    from notify_bindings.dal.sealing import Sealer
    from notify_bindings.domain.credentials import (
        Credential,
        CredentialMaterial,
        CredentialType,
    )

    # The function invoked may not have the key (only those that seal do): its alias then.
    config = dependencies.settings()
    key_id = config.credentials_key_id or "alias/CredentialsKey"
    store = CredentialStore(
        dependencies.dynamodb(), config.services_table, Sealer(dependencies.kms(), key_id)
    )
    if store.get(EVENT_ACCOUNT_SID, EVENT_CREDENTIAL_SID) is not None:
        return
    now = dependencies.now()
    credential = Credential(
        EVENT_CREDENTIAL_SID, EVENT_ACCOUNT_SID, CredentialType.SMS, now, now, "Sample SMS"
    )
    material = CredentialMaterial(api_key=EVENT_ACCOUNT_SID, secret="6b" * 16)
    store.create(credential, material)


def _route_events(template: SamTemplate) -> Iterator[dict[str, Any]]:
    for function in template.functions.values():
        if function.routes and event_file(function).exists():
            yield load_event(function)


def _named_bindings(template: SamTemplate) -> set[tuple[str, str]]:
    """(Service SID, binding SID) of every binding a route's event names by SID."""
    named = set()
    for event in _route_events(template):
        parameters = event.get("pathParameters") or {}
        if "ServiceSid" in parameters and parameters.get("Sid", "").startswith("BS"):
            named.add((parameters["ServiceSid"], parameters["Sid"]))
    return named


def _stream_services(template: SamTemplate) -> set[str]:
    """The Services of the bindings in the stream consumers' events."""
    services = set()
    for function in template.functions.values():
        if not function.stream_sources or not event_file(function).exists():
            continue
        for record in load_event(function)["Records"]:
            change = record["dynamodb"]
            for image in (change.get("NewImage"), change.get("OldImage")):
                if image:
                    services.add(image["ServiceSid"]["S"])
    return services


def fixture_address(sid: str) -> str:
    """The address of a fixture binding: APNs-like, a hex device token, from its SID."""
    return hashlib.sha256(sid.encode()).hexdigest()


def _binding(service_sid: str, sid: str) -> Binding:
    from notify_bindings.domain.bindings import DEFAULT_PROTOCOL_VERSION, Binding, BindingType

    return Binding(
        sid=sid,
        account_sid=EVENT_ACCOUNT_SID,
        service_sid=service_sid,
        identity=EVENT_IDENTITY,
        binding_type=BindingType.APN,
        address=fixture_address(sid),
        tags=(EVENT_TAG,),
        credential_sid=None,
        notification_protocol_version=DEFAULT_PROTOCOL_VERSION,
        # SIDs begin with their creation time in milliseconds.
        date_created=datetime.fromtimestamp(int(sid[2:14], 16) / 1000, UTC),
    )


def _put(binding: Binding) -> Binding:
    """Create exactly `binding` (SID and all) in its Service, as its account."""
    from notify_bindings import dependencies

    store = dependencies.binding_store()
    account_sid, service_sid = binding.account_sid, binding.service_sid
    stored = store.put(account_sid, service_sid, binding.address, lambda _: binding).binding
    if stored.sid != binding.sid:  # an identical binding of another SID is live: replace it
        store.delete(account_sid, service_sid, stored.sid)
        stored = store.put(account_sid, service_sid, binding.address, lambda _: binding).binding
    if stored.sid != binding.sid:
        raise RuntimeError(f"{binding.sid} could not be put back in {service_sid}")
    return stored


def main(argv: list[str] | None = None) -> int:
    """`make fixtures [FN=<Function>]`: seed the running `make run`'s tables."""
    import argparse
    import os
    import sys

    from local_api.invoke import DEFAULT_STATE_DIR, Target, find_function
    from local_api.run_state import STATE_FILE, read_state, unusable
    from local_api.runtime import keep_aws_local, put_layers_on_path
    from local_api.template import TEMPLATE_PATH

    parser = argparse.ArgumentParser(prog="python -m local_api.fixtures", description=__doc__)
    parser.add_argument("function", nargs="?", help="also what this function's sample event needs")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    args = parser.parse_args(argv)
    template = SamTemplate.load(args.template)
    state = read_state(args.state_dir)
    reason = "it recorded nothing" if state is None else unusable(state, template)
    if state is None or reason is not None:
        print(
            f"Error: no make run to seed ({args.state_dir / STATE_FILE}: {reason}); "
            "start one with make run (it seeds the fixtures itself)",
            file=sys.stderr,
        )
        return 1
    function = find_function(template, args.function) if args.function else None
    keep_aws_local()
    put_layers_on_path(template)
    tables = Target(state.references, state.settings, state.endpoints)
    os.environ.update(tables.environment(template))
    bindings = seed_event_fixtures(template, function.code_dir.name if function else None)
    print(
        f"the events' account {EVENT_ACCOUNT_SID}, Services and {len(bindings)} binding(s) "
        f"are in the tables of the make run at {state.api_url}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
