"""The dead-token queue (ours): senders report in bulk the addresses their push services
rejected, one JSON message each (`api/requests/dead_tokens.DeadTokenMessage`). Like an HTTP
request, a message comes from outside and is validated on the way in; each is then acted on as
a single report is (`operations/dead_tokens.remove_dead_token`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from notify_bindings.api.requests.dead_tokens import DeadTokenMessage
from notify_bindings.domain.services import MissingService
from notify_bindings.operations.dead_tokens import remove_dead_token
from notify_bindings.platform.errors import Throttled, Unavailable
from notify_bindings.platform.observability import count, failure, logger


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
