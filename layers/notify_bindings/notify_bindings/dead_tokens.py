"""Dead-token feedback (ours): the binding at an address a push service rejected is removed,
reported one at a time over HTTP or in bulk through the dead-token queue.

The store removes it only while it still holds the address (and, when the report names one,
only if it is still that binding), and records the reason with the removal, in the same
transaction. Reporting an address again, or one no binding holds, removes nothing: reports
are idempotent, so a sender may retry any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from notify_bindings import dependencies
from notify_bindings.dead_token_models import (
    DeadTokenMessage,
    DeadTokenReason,
    DeadTokenReportResource,
    ReportDeadTokenForm,
)
from notify_bindings.models import Binding
from notify_bindings.platform.errors import NotFound, Throttled, Unavailable
from notify_bindings.platform.observability import count, failure, logger
from notify_bindings.store import MissingService


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
    account_sid: str, service_sid: str, form: ReportDeadTokenForm
) -> DeadTokenReportResource:
    """`POST /v1/Services/{ServiceSid}/DeadTokens`: 404 for a Service not the account's."""
    try:
        removed = remove_dead_token(
            account_sid,
            service_sid,
            form.address,
            binding_sid=form.binding_sid,
            reason=form.reason,
        )
    except MissingService:
        raise NotFound(f"/Services/{service_sid}/DeadTokens") from None
    return DeadTokenReportResource(
        account_sid=account_sid,
        service_sid=service_sid,
        binding_sid=removed.sid if removed is not None else None,
        removed=removed is not None,
        reason=form.reason,
    )


def report_dead_token_messages(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Act on each message of a batch from the dead-token queue; the IDs of the messages that
    failed for now (DynamoDB throttled or unavailable, or time ran out), for SQS to deliver
    again later.

    A message that can never succeed - not a valid message, or naming a Service its account
    does not have (any more) - is dropped, counted and logged by its message ID alone (its body
    holds an address): delivered again, it would fail again, until the dead-letter queue, whose
    alarm is kept for failures that retrying did not cure.
    """
    failed: list[str] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            message = DeadTokenMessage.model_validate_json(record.get("body") or "")
        except ValidationError:
            _drop(message_id, "malformed")
            continue
        try:
            remove_dead_token(
                message.account_sid,
                message.service_sid,
                message.address,
                binding_sid=message.binding_sid,
                reason=message.reason,
            )
        except MissingService:
            _drop(message_id, "unknown_service")
        except (Throttled, Unavailable) as error:
            count("DeadTokenMessagesRetried")
            logger.warning(
                "Dead token message to be delivered again",
                extra={"message_id": message_id, "code": error.code},
            )
            failed.append(message_id)
        except Exception as unexpected:
            # Not logger.exception: an exception's message can echo the address.
            logger.error(
                "Dead token message failed", extra={"message_id": message_id, **failure(unexpected)}
            )
            failed.append(message_id)
    return failed


def _drop(message_id: str, problem: str) -> None:
    count("DeadTokenMessagesDropped")
    logger.error("Dead token message dropped", extra={"message_id": message_id, "problem": problem})
