"""Bindings built the way `notify_bindings.bindings.create_binding` builds them, for tests that
call the store directly."""

from __future__ import annotations

from datetime import UTC, datetime

from notify_bindings.models import DEFAULT_PROTOCOL_VERSION, Binding, BindingType
from notify_bindings.sids import new_binding_sid

ACCOUNT_SID = "AC" + "0" * 32


def new_binding(
    service_sid: str,
    identity: str,
    address: str,
    *,
    binding_type: BindingType = BindingType.APN,
    tags: tuple[str, ...] = (),
    credential_sid: str | None = None,
    notification_protocol_version: str | None = None,
) -> Binding:
    created = datetime.now(UTC)
    return Binding(
        sid=new_binding_sid(created),
        account_sid=ACCOUNT_SID,
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
