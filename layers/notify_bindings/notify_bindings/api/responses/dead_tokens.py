"""Twilio-shaped JSON for a dead-token report (ours)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from notify_bindings.domain.bindings import Binding
from notify_bindings.domain.dead_tokens import DeadTokenReason


class DeadTokenReportResource(BaseModel):
    """The answer to a report: whether a binding went, and which; never the address."""

    model_config = ConfigDict(defer_build=True)

    account_sid: str
    service_sid: str
    binding_sid: str | None
    removed: bool
    reason: DeadTokenReason

    @classmethod
    def of(
        cls, account_sid: str, service_sid: str, removed: Binding | None, reason: DeadTokenReason
    ) -> DeadTokenReportResource:
        return cls(
            account_sid=account_sid,
            service_sid=service_sid,
            binding_sid=removed.sid if removed is not None else None,
            removed=removed is not None,
            reason=reason,
        )
