"""The purge of a deleted Service's bindings, in the background: the Service purge queue's
messages, sent when a Service is deleted (`operations/services.py`) and handed on by a purge
that runs out of time.

The message is our own JSON between two of our functions, not something a client sends, so it
is a plain dataclass here rather than a model of `api/requests/`: both ends import it, and the
purge function loads no pydantic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from notify_bindings import dependencies
from notify_bindings.dal.dynamo import translated_errors
from notify_bindings.platform import deadline
from notify_bindings.platform.errors import Throttled, Unavailable
from notify_bindings.platform.observability import logger
from notify_bindings.platform.sids import ACCOUNT_SID_PATTERN, SERVICE_SID_PATTERN

_ACCOUNT_SID = re.compile(ACCOUNT_SID_PATTERN)
_SERVICE_SID = re.compile(SERVICE_SID_PATTERN)
_FIELDS = ("account_sid", "service_sid")
# Enough for one more page of deletes and the hand-over message after the last one.
_PURGE_MARGIN_SECONDS = 20.0
# The hand-over message: one SQS call, however slow (see dependencies._CLIENT_CONFIG).
_HAND_OVER_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    """A message of the Service purge queue: purge this deleted Service of this account."""

    account_sid: str
    service_sid: str

    def __post_init__(self) -> None:
        if not (
            _ACCOUNT_SID.fullmatch(self.account_sid) and _SERVICE_SID.fullmatch(self.service_sid)
        ):
            raise ValueError("a purge request names an Account SID and a Service SID")

    @classmethod
    def from_json(cls, message: str) -> PurgeRequest:
        """The request a message holds; ValueError for anything else (other fields ignored)."""
        fields = json.loads(message)
        sids = [fields.get(name) if isinstance(fields, dict) else None for name in _FIELDS]
        account_sid, service_sid = (sid if isinstance(sid, str) else "" for sid in sids)
        return cls(account_sid, service_sid)

    def to_json(self) -> str:
        return json.dumps(
            {"account_sid": self.account_sid, "service_sid": self.service_sid},
            separators=(",", ":"),
        )


def request_purge(account_sid: str, service_sid: str) -> None:
    body = PurgeRequest(account_sid, service_sid).to_json()
    with translated_errors():
        dependencies.sqs().send_message(
            QueueUrl=dependencies.settings().service_purge_queue_url, MessageBody=body
        )


def continue_purge(message: str, time_left: Callable[[], float]) -> None:
    """Work on a purge request; if time runs out first, hand the rest on to a new one."""
    request = PurgeRequest.from_json(message)
    if not purge_service(request.account_sid, request.service_sid, time_left):
        request_purge(request.account_sid, request.service_sid)
        logger.info("Service purge continues", extra={"service_sid": request.service_sid})


def purge_service(account_sid: str, service_sid: str, time_left: Callable[[], float]) -> bool:
    """Purge a deleted Service's bindings while `time_left()` (seconds) allows, then, once
    none remain, the Service itself. True when done; otherwise the caller hands on.

    DynamoDB calls end in time for the hand-over: one that would not (slowed down by
    retries) is not made, and the purge is handed on from where it stopped. So is a purge
    that DynamoDB fails after it purged a page: a long purge in a spell of throttling goes
    on, rather than spend the message's deliveries and end in the dead-letter queue. Only
    when DynamoDB fails before any progress does the message fail, and SQS deliver it again
    later.
    """
    bindings = dependencies.binding_store()
    pages = 0
    with deadline.within(time_left() - _HAND_OVER_SECONDS):
        while time_left() > _PURGE_MARGIN_SECONDS:
            try:
                if bindings.purge_some(service_sid):
                    dependencies.service_store().remove(account_sid, service_sid)
                    logger.info("Service purged", extra={"service_sid": service_sid})
                    return True
            except (Throttled, Unavailable) as error:
                if pages == 0 and not deadline.ran_out(error):
                    raise
                return False  # every page purged so far holds
            pages += 1
    return False
