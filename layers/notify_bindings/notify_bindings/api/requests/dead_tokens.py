"""Dead-token feedback (ours): what a sender reports when its push service rejected an address,
over HTTP (a form) or through the dead-token queue (a JSON message).

The binding holding the address is deleted (as Twilio did when APNs reported a token
unregistered), and only while it still holds that address; the reason becomes the detail of
the removal, which the binding's change event carries. Addresses are personal data: no answer
echoes one (`api/responses/dead_tokens.py`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from notify_bindings.api.requests.fields import Address
from notify_bindings.domain.dead_tokens import DeadTokenReason
from notify_bindings.platform.sids import (
    ACCOUNT_SID_PATTERN,
    BINDING_SID_PATTERN,
    SERVICE_SID_PATTERN,
)

BindingSid = Annotated[str, StringConstraints(pattern=BINDING_SID_PATTERN)]


def _null_is_default(value: object) -> object:
    """A message written from a record of optional fields may say `"reason": null`."""
    return DeadTokenReason.UNREGISTERED if value is None else value


class ReportDeadTokenForm(BaseModel):
    """The form body of `POST /v1/Services/{ServiceSid}/DeadTokens`."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    address: Annotated[Address, Field(alias="Address")]
    # Only this binding: not one registered at the address since the push was sent.
    binding_sid: Annotated[BindingSid | None, Field(alias="BindingSid")] = None
    reason: Annotated[DeadTokenReason, Field(alias="Reason")] = DeadTokenReason.UNREGISTERED


class DeadTokenMessage(BaseModel):
    """A message of the dead-token queue: one address of one Service of one account.

    Unknown fields are refused, not ignored as a form's are: a misspelt `binding_sid` would
    otherwise delete whatever binding holds the address."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    account_sid: Annotated[str, StringConstraints(pattern=ACCOUNT_SID_PATTERN)]
    service_sid: Annotated[str, StringConstraints(pattern=SERVICE_SID_PATTERN)]
    address: Address
    binding_sid: BindingSid | None = None
    reason: Annotated[DeadTokenReason, BeforeValidator(_null_is_default)] = (
        DeadTokenReason.UNREGISTERED
    )
