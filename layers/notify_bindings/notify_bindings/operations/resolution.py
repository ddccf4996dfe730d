"""Resolution: a notification's recipients read from the binding indexes and put on the
delivery queue in batches.

- `Identity`: the identity records (one strongly consistent BatchGetItem for up to 20), which
  hold a copy of each of their bindings; with `Tag` too, filtered to the bindings that carry
  every tag;
- `Tag`: the index partition of exactly those tags, read once, a page at a time, in SID order
  (no Scan);
- `ToBinding`: the direct addresses, with no binding and the Service's credentials.

Expired bindings are no recipients (the reads leave them out). Recipients are queued in
batches of up to `Settings.delivery_batch_size` (grouped by channel, cut shorter to keep a
message within DELIVERY_BATCH_BYTES); a page's last, partial batch waits for the next page's
recipients, so batches fill up across pages. The recipients of the batches queued after each
page are counted on the notification (`Total`) before they are queued, conditioned on the
batch sequence they start from, so a task retried after a failure counts nothing twice and
queues the same batches under the same sequences (which the delivering function recognises).
A function near its deadline queues what it holds and a continuation task from the last
binding it read: a resolution never waits on one function, and the delivering functions start
on the first batches at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from notify_bindings import dependencies
from notify_bindings.domain.bindings import Binding, BindingFilters, BindingType
from notify_bindings.domain.notifications import (
    DELIVERY_BATCH_BYTES,
    DELIVERY_BATCH_SIZE,
    DeliveryBatch,
    Notification,
    Recipient,
    ResolutionTask,
)
from notify_bindings.domain.services import MissingService, Service
from notify_bindings.platform.observability import count, failure, logger

# Bindings read per query: the most a page of the index answers.
RESOLVE_PAGE_SIZE = 1000
# SendMessageBatch takes 10 messages and 256 KiB in all: a call carries as many batches as fit.
MESSAGES_PER_SEND = 10
BYTES_PER_SEND = 262_144
# A page takes well under this; with less left, the rest goes to a continuation task.
CONTINUE_WITHIN_SECONDS = 5.0


def credential_for(recipient_type: BindingType, own: str | None, service: Service) -> str | None:
    """The binding's credential, else the Service's for its type."""
    if own is not None:
        return own
    value = getattr(service, f"{recipient_type.value}_credential_sid", None)
    return value if isinstance(value, str) else None


def recipient_of(binding: Binding, service: Service) -> Recipient:
    return Recipient(
        binding_type=binding.binding_type,
        address=binding.address,
        binding_sid=binding.sid,
        credential_sid=credential_for(binding.binding_type, binding.credential_sid, service),
        notification_protocol_version=binding.notification_protocol_version
        or service.default_protocol_version(binding.binding_type),
    )


def batches_of(
    notification: Notification,
    recipients: Iterable[Recipient],
    start: int,
    *,
    size: int = DELIVERY_BATCH_SIZE,
    max_bytes: int = DELIVERY_BATCH_BYTES,
) -> list[DeliveryBatch]:
    """The recipients in batches numbered from `start`: `size` recipients each at most, and
    fewer when their message would be longer than `max_bytes`. Grouped by channel (each
    channel's recipients one after another) but not split by it: a notification to 1,000
    recipients of three channels is one batch, not three."""
    ordered = sorted(recipients, key=lambda recipient: recipient.binding_type)  # stable
    batches: list[DeliveryBatch] = []
    members: list[Recipient] = []
    length = _message_bytes(notification, start, ())  # the envelope, then each recipient
    for recipient in ordered:
        more = _json_bytes(recipient.to_json()) + (1 if members else 0)  # a comma before
        if members and (len(members) == size or length + more > max_bytes):
            batches.append(_batch(notification, start + len(batches), members))
            members = []
            length, more = _message_bytes(notification, start + len(batches), ()), more - 1
        members.append(recipient)
        length += more
    if members:
        batches.append(_batch(notification, start + len(batches), members))
    return batches


def _batch(notification: Notification, sequence: int, members: list[Recipient]) -> DeliveryBatch:
    return DeliveryBatch(
        notification.account_sid,
        notification.service_sid,
        notification.sid,
        sequence,
        tuple(members),
    )


def _message_bytes(
    notification: Notification, sequence: int, recipients: tuple[Recipient, ...]
) -> int:
    batch = DeliveryBatch(
        notification.account_sid, notification.service_sid, notification.sid, sequence, recipients
    )
    return len(batch.to_message().encode())


def _json_bytes(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def resolve(task: ResolutionTask, time_left: Callable[[], float]) -> None:
    """Queue the task's recipients (from its cursor on); a continuation when time runs short."""
    found = dependencies.notification_store().get(
        task.account_sid, task.service_sid, task.notification_sid
    )
    if found is None:  # expired, or never stored: nothing to send
        logger.warning(
            "Notification to resolve is gone", extra={"notification_sid": task.notification_sid}
        )
        return
    notification, _ = found
    service = dependencies.service_store().get(task.account_sid, task.service_sid)
    sequence = task.next_sequence
    size = dependencies.settings().delivery_batch_size
    held: list[Recipient] = []  # read, not queued yet: the last page's partial batch
    for recipients, last_sid, last in _pages(notification, service, task.after):
        continuing = not last and time_left() < CONTINUE_WITHIN_SECONDS
        batches = batches_of(notification, held + recipients, sequence, size=size)
        held = []
        if not (last or continuing):
            batches, held = _holding_partial(batches, size)
        if batches or last:
            queued = sum(len(batch.recipients) for batch in batches)
            _queue(notification, batches, sequence, queued, last)
            sequence += len(batches)
        if continuing:
            _continue(
                ResolutionTask(
                    task.account_sid, task.service_sid, task.notification_sid, last_sid, sequence
                )
            )
            return


def _holding_partial(
    batches: list[DeliveryBatch], size: int
) -> tuple[list[DeliveryBatch], list[Recipient]]:
    """The batches to queue now, and the recipients held back for the next page: the last
    batch, unless it is full, so that batches fill up across pages. Deterministic: a task
    retried reads the same pages and queues the same batches under the same sequences."""
    if batches and len(batches[-1].recipients) < size:
        return batches[:-1], list(batches[-1].recipients)
    return batches, []


Pages = Iterator[tuple[list[Recipient], str | None, bool]]


def _pages(notification: Notification, service: Service | None, after: str | None) -> Pages:
    """Pages of recipients: each with the last binding SID it read, and whether it is the last."""
    if service is None or not (
        notification.identities or notification.tags or notification.to_bindings
    ):
        # A deleted Service, or only (deprecated) segments: nobody.
        yield [], None, True
        return
    if notification.to_bindings:
        yield (
            [_direct(to.binding_type, to.address, service) for to in notification.to_bindings],
            None,
            True,
        )
        return
    filters = BindingFilters(identities=notification.identities, tags=notification.tags)
    store = dependencies.binding_store()
    while True:
        try:
            page = store.recipients_page(
                notification.account_sid,
                notification.service_sid,
                filters,
                after,
                RESOLVE_PAGE_SIZE,
            )
        except MissingService:
            yield [], None, True
            return
        last_sid = page.last_key or (page.items[-1].sid if page.items else None)
        recipients = [recipient_of(binding, service) for binding in page.items]
        if not page.more_after or last_sid is None:
            yield recipients, last_sid, True
            return
        yield recipients, last_sid, False
        after = last_sid


def _direct(kind: BindingType, address: str, service: Service) -> Recipient:
    return Recipient(
        binding_type=kind,
        address=address,
        credential_sid=credential_for(kind, None, service),
        notification_protocol_version=service.default_protocol_version(kind),
    )


def _queue(
    notification: Notification,
    batches: list[DeliveryBatch],
    start: int,
    recipients: int,
    last: bool,
) -> None:
    counted = dependencies.notification_store().queued(
        notification.account_sid, notification.sid, start, len(batches), recipients, last
    )
    if not counted:
        count("ResolutionPagesRepeated")
    sqs = dependencies.sqs()
    url = _queue_url("delivery")
    for entries in _sends(batches):
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            # The task fails and comes back: its batches are queued again under the same
            # sequences, and those already delivered are recognised.
            raise RuntimeError(f"{len(answer['Failed'])} delivery batches were not queued")
    logger.info(
        "Recipients queued",
        extra={
            "notification_sid": notification.sid,
            "recipients": recipients,
            "batches": len(batches),
            "resolved": last,
        },
    )


def _sends(batches: list[DeliveryBatch]) -> Iterator[list[dict[str, str]]]:
    """The batches' messages, grouped into SendMessageBatch calls: MESSAGES_PER_SEND messages
    and BYTES_PER_SEND bytes a call at most."""
    entries: list[dict[str, str]] = []
    length = 0
    for batch in batches:
        body = batch.to_message()
        size = len(body.encode())
        if entries and (len(entries) == MESSAGES_PER_SEND or length + size > BYTES_PER_SEND):
            yield entries
            entries, length = [], 0
        entries.append({"Id": str(batch.sequence), "MessageBody": body})
        length += size
    if entries:
        yield entries


def _continue(task: ResolutionTask) -> None:
    dependencies.sqs().send_message(QueueUrl=_queue_url("resolve"), MessageBody=task.to_message())
    count("ResolutionContinued")


def _queue_url(which: str) -> str:
    config = dependencies.settings()
    url = config.delivery_queue_url if which == "delivery" else config.resolve_queue_url
    if url is None:
        raise RuntimeError(f"{which.upper()}_QUEUE_URL is not set")
    return url


def resolve_messages(
    records: Iterable[Mapping[str, Any]], time_left: Callable[[], float]
) -> list[str]:
    """Resolve each message's task; the IDs of those that failed, for SQS to deliver again."""
    failed: list[str] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            resolve(ResolutionTask.from_message(record.get("body") or ""), time_left)
        except (ValueError, KeyError, TypeError):
            count("ResolutionTasksDropped")
            logger.error("Resolution task dropped: malformed", extra={"message_id": message_id})
        except Exception as error:
            logger.error(
                "Resolution task failed", extra={"message_id": message_id, **failure(error)}
            )
            failed.append(message_id)
    return failed
