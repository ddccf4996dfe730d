"""Dead-token feedback (ours): the binding at an address a push service rejected is removed,
reported one at a time over HTTP or in bulk through the dead-token queue
(`api/dead_token_queue.py`), and by the functions that deliver notifications.

The store removes it only while it still holds the address (and, when the report names one,
only if it is still that binding), and records the reason with the removal, in the same
transaction. Reporting an address again, or one no binding holds, removes nothing: reports
are idempotent, so a sender may retry any of them.
"""

from __future__ import annotations

from notify_bindings import dependencies
from notify_bindings.domain.bindings import Binding
from notify_bindings.domain.dead_tokens import DeadTokenReason
from notify_bindings.domain.services import MissingService
from notify_bindings.platform.errors import NotFound
from notify_bindings.platform.observability import count, logger


def remove_dead_token(
    account_sid: str,
    service_sid: str,
    address: str,
    *,
    binding_sid: str | None,
    reason: DeadTokenReason,
) -> Binding | None:
    """Remove the binding at `address` (only `binding_sid`, when given); the binding removed,
    or None when none was there. Raises MissingService when the Service is not the account's."""
    removed = dependencies.binding_store().remove_dead_address(
        account_sid, service_sid, address, binding_sid=binding_sid, detail=reason.value
    )
    # Logs name bindings by SID only: never the address, which is personal data.
    if removed is None:
        count("DeadTokensIgnored")
        # Senders report the same address more than once: that is counted, and logged only
        # at DEBUG (log volume is billed).
        logger.debug(
            "Dead token held by no binding", extra={"service_sid": service_sid, "reason": reason}
        )
    else:
        count("DeadTokensRemoved")
        logger.info(
            "Binding of a dead token removed",
            extra={"service_sid": service_sid, "binding_sid": removed.sid, "reason": reason},
        )
    return removed


def report_dead_token(
    account_sid: str,
    service_sid: str,
    address: str,
    *,
    binding_sid: str | None,
    reason: DeadTokenReason,
) -> Binding | None:
    """`POST /v1/Services/{ServiceSid}/DeadTokens`: 404 for a Service not the account's."""
    try:
        return remove_dead_token(
            account_sid, service_sid, address, binding_sid=binding_sid, reason=reason
        )
    except MissingService:
        raise NotFound(f"/Services/{service_sid}/DeadTokens") from None
