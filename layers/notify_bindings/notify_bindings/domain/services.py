"""The stored Service: its settings, named as in Twilio's JSON.

The settings a client may give are the attributes of the `Service` dataclass; Twilio's
parameters name them in PascalCase (`friendly_name`, `FriendlyName`), as do the attributes in the
table. The form and the query for a Service are in `api/requests/services.py`, Twilio's JSON for
it in `api/responses/services.py`, both loaded only by the Service functions.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from notify_bindings.domain.bindings import BindingType, IdentityBindingLimitPolicy

# Ten years at most: a longer life is no expiry at all, and may overflow a client's date.
MAX_BINDING_TTL_DAYS = 3650
SECONDS_PER_DAY = 86_400


class MissingService(Exception):
    """No such Service in the caller's account (or it is being deleted)."""


@dataclass(frozen=True, slots=True)
class Service:
    """A stored Service. Fields after `date_updated` are its settings, in Twilio's order."""

    sid: str
    account_sid: str
    date_created: datetime
    date_updated: datetime
    friendly_name: str | None = None
    apn_credential_sid: str | None = None
    gcm_credential_sid: str | None = None
    fcm_credential_sid: str | None = None
    messaging_service_sid: str | None = None
    facebook_messenger_page_id: str | None = None
    default_apn_notification_protocol_version: str | None = None
    default_gcm_notification_protocol_version: str | None = None
    default_fcm_notification_protocol_version: str | None = None
    log_enabled: bool = True
    alexa_skill_id: str | None = None
    default_alexa_notification_protocol_version: str | None = None
    delivery_callback_url: str | None = None
    delivery_callback_enabled: bool = False
    identity_binding_limit_policy: IdentityBindingLimitPolicy = IdentityBindingLimitPolicy.REJECT
    binding_ttl_days: int | None = None
    # Ours: the Twilio Messaging (sms) Credential that delivers this Service's sms bindings.
    sms_credential_sid: str | None = None

    def expiry_of(self, created: datetime) -> int | None:
        """When a binding created at `created` expires (epoch seconds), under this Service's
        binding_ttl_days; None when bindings never expire."""
        if self.binding_ttl_days is None:
            return None
        return int(created.timestamp()) + self.binding_ttl_days * SECONDS_PER_DAY

    def default_protocol_version(self, kind: BindingType) -> str | None:
        """The Service's protocol version for `kind`, when it sets one."""
        value = getattr(self, f"default_{kind.value}_notification_protocol_version", None)
        return value if isinstance(value, str) else None

    def settings(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every field, a cost on every Service returned.
        return {name: getattr(self, name) for name in _SETTING_FIELDS}


# Every setting of a Service (the fields after date_updated), and the form parameter (and table
# attribute) that names it.
SETTINGS: dict[str, str] = {
    f.name: "".join(word.capitalize() for word in f.name.split("_"))
    for f in fields(Service)[4:]  # after sid, account_sid, date_created and date_updated
}
# The settings, in the order of the dataclass's fields.
_SETTING_FIELDS = tuple(SETTINGS)
# The settings that are never null: an empty value restores their default.
SETTING_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(Service) if f.name in SETTINGS and f.default is not None
}
