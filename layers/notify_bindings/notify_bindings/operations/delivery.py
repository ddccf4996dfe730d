"""Delivery: a DeliveryBatch's recipients sent through their channel, the dead bindings
removed, the batch's outcome and counts recorded, and its deliveries reported.

The guarantee (docs/architecture.md): a recipient is sent at most once by the functions that
take its batch, except when a provider's answer is lost after it may have taken the request
(the sender tries again: providers/outcomes.Outcome.maybe_accepted), and when a function dies
(a crash, or the hard timeout) after a provider accepted a delivery and before the batch's
record was written - the only duplicates allowed.
- A batch is claimed before anything is sent: a conditional write with a lease the length of
  the function's timeout. A copy of the message that arrives meanwhile (SQS delivers at least
  once) finds it claimed and comes back when that lease ends (its visibility set to then); one
  that arrives after the batch finished is dropped.
- Up to `Stages.sends_in_flight` sends run at once, each on a worker thread in a copy of the
  invocation's context (its deadline, its log keys). A send starts only when a worker is free
  and SEND_SECONDS are left; what each one did is kept by its position in the batch, whatever
  order they end in.
- A function running out of time starts no more sends, waits for those in flight, records the
  recipients it did (by position) with their counts, releases the claim, and returns the
  message to the queue, visible again within RESUME_SECONDS_MOST (not after the queue's
  visibility timeout): the next function sends only the rest. A send's retries end
  RECORD_SECONDS before the deadline, so that the record is always written: a batch whose
  record could not be written would be sent again whole. A send that raises stops the batch
  the same way (the others' progress recorded), and the batch comes back after the queue's
  visibility timeout: a back-off for whatever failed.
- A message's visibility that could not be changed is left to the queue's own timeout: the
  message still comes back, later.
- The record and the counts are one transaction, conditioned on the batch not having finished:
  counts are added once.

The providers, the credentials and the callbacks come in through protocols (the composition
root gives the real ones; tests give recording fakes).
"""

from __future__ import annotations

import contextvars
import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Protocol

from notify_bindings import dependencies
from notify_bindings.domain.dead_tokens import DeadTokenReason
from notify_bindings.domain.notifications import (
    Delivery,
    DeliveryBatch,
    DeliveryCounts,
    DeliveryStatus,
    Notification,
    OpenedCredential,
    Recipient,
)
from notify_bindings.domain.services import MissingService, Service
from notify_bindings.operations.dead_tokens import remove_dead_token
from notify_bindings.platform import deadline
from notify_bindings.platform.observability import count, failure, logger

# What the batch needs after a send: its binding removed if the address is dead, and the
# record written - guarded DynamoDB calls of at most 3 s an attempt (dependencies), a retry
# each. A send's retries stop in time to leave this much.
RECORD_SECONDS = 8.0
# Time a send needs at least: one attempt (the providers' clients connect within 5 s and read
# within 10 s) and then the record. With less left, the batch stops and records its progress.
SEND_SECONDS = 15.0 + RECORD_SECONDS
# A claim outlasts the function holding it by this much (clocks of two machines differ).
LEASE_MARGIN_SECONDS = 5.0
# A batch left unfinished for lack of time is shown again after 1 to this many seconds
# (jittered, so that the rests of batches stopped together do not come back together).
RESUME_SECONDS_MOST = 5
# A copy of a batch claimed elsewhere is shown again this long at least after now, and up to
# this much after the holder's lease ends (jitter); SQS allows at most 12 hours.
CLAIMED_SECONDS_LEAST = 5
CLAIMED_JITTER_SECONDS = 5
VISIBILITY_SECONDS_MOST = 12 * 3600


class CredentialSource(Protocol):
    def open(self, account_sid: str, credential_sid: str) -> OpenedCredential | None:
        """The credential, opened, or None when the account has no such one."""


class Sender(Protocol):
    def send(
        self,
        notification: Notification,
        service: Service,
        recipient: Recipient,
        credential: Any,
        *,
        sandbox: bool,
    ) -> Delivery: ...


class CallbackReporter(Protocol):
    def report(
        self,
        notification: Notification,
        service: Service,
        deliveries: Sequence[Delivery],
        *,
        first_sequence: int,
        final: bool,
    ) -> object: ...


@dataclass
class Invocation:
    """What one invocation of the delivering function has read: each notification and
    Service once, however many of its batches the invocation holds."""

    notifications: dict[tuple[str, str], Notification | None] = field(default_factory=dict)
    services: dict[tuple[str, str], Service | None] = field(default_factory=dict)

    def notification(self, batch: DeliveryBatch) -> Notification | None:
        key = (batch.account_sid, batch.notification_sid)
        if key not in self.notifications:
            found = dependencies.notification_store().get(
                batch.account_sid, batch.service_sid, batch.notification_sid
            )
            self.notifications[key] = None if found is None else found[0]
        return self.notifications[key]

    def service(self, batch: DeliveryBatch) -> Service | None:
        key = (batch.account_sid, batch.service_sid)
        if key not in self.services:
            self.services[key] = dependencies.service_store().get(*key)
        return self.services[key]


class Comeback(NamedTuple):
    """A batch to deliver again, and in how many seconds SQS should show its message again."""

    after_seconds: int


@dataclass(frozen=True)
class Stages:
    credentials: CredentialSource
    sender: Sender
    reporter: CallbackReporter
    lease_seconds: float
    time_left: Callable[[], float]
    clock: Callable[[], float]
    # Sends at once (Settings.sends_in_flight); 1 sends one recipient after another on the
    # invocation's own thread.
    sends_in_flight: int = 1
    # In [0, 1): spreads the times messages are shown again.
    jitter: Callable[[], float] = random.random  # nosec B311 - not for secrets


def deliver(batch: DeliveryBatch, stages: Stages, invocation: Invocation) -> Comeback | None:
    """Deliver the batch; None when done with it, or when it must come back: claimed by
    another function now (when its lease ends), or left unfinished for lack of time (at once).
    A send that raised is raised, once the progress of the others is recorded."""
    notification = invocation.notification(batch)
    service = invocation.service(batch)
    if notification is None or service is None:
        logger.warning("Batch of a notification or Service gone", extra=_about(batch))
        return None
    store = dependencies.notification_store()
    claim = store.claim(
        batch.account_sid,
        batch.notification_sid,
        batch.sequence,
        stages.clock(),
        stages.lease_seconds,
    )
    if claim is None:
        lease = store.lease(batch.account_sid, batch.notification_sid, batch.sequence)
        return None if lease.finished else Comeback(_until_lease_ends(lease.until, stages))
    sent: dict[int, Delivery] = {}
    failure: Exception | None = None
    try:
        _send_all(batch, claim.done, notification, service, stages, sent)
    except Exception as error:  # raised once the sends in flight ended; the batch comes back
        failure = error
    # Whatever stopped the sends, those that ended are recorded and reported: the batch
    # coming back sends only the rest.
    finished = failure is None and len(claim.done) + len(sent) == len(batch.recipients)
    deliveries = [sent[position] for position in sorted(sent)]
    store.record(
        batch.account_sid,
        batch.notification_sid,
        batch.sequence,
        frozenset(sent),
        _counts(deliveries),
        finished,
    )
    count("DeliveryBatchesFinished" if finished else "DeliveryBatchesResumed")
    if deliveries:
        _report(notification, service, deliveries, stages.reporter)
    if failure is not None:
        raise failure
    return None if finished else Comeback(1 + _jittered(RESUME_SECONDS_MOST - 1, stages))


def _until_lease_ends(until: float, stages: Stages) -> int:
    """Seconds from now to a little after the lease ending at `until`, within SQS's bounds."""
    wait_seconds = math.ceil(until - stages.clock()) + _jittered(CLAIMED_JITTER_SECONDS, stages)
    return min(max(wait_seconds, CLAIMED_SECONDS_LEAST), VISIBILITY_SECONDS_MOST)


def _jittered(most: int, stages: Stages) -> int:
    """A whole number of seconds from 0 to `most`."""
    return min(int(stages.jitter() * (most + 1)), most)


def _send_all(
    batch: DeliveryBatch,
    already: frozenset[int],
    notification: Notification,
    service: Service,
    stages: Stages,
    sent: dict[int, Delivery],
) -> None:
    """Send the batch's recipients not done `already`, while time is left, putting each
    delivery in `sent` by its position as it ends; the first exception of a send is raised
    once those in flight have ended."""
    opened: dict[str, OpenedCredential | None] = {}

    def start(recipient: Recipient, left: float) -> Callable[[], Delivery]:
        """The send of `recipient`, its credential opened (once a batch), to run with the
        time `left` when its turn came."""
        credential = None
        if recipient.credential_sid is not None:
            if recipient.credential_sid not in opened:
                opened[recipient.credential_sid] = stages.credentials.open(
                    batch.account_sid, recipient.credential_sid
                )
            credential = opened[recipient.credential_sid]

        def send() -> Delivery:
            with deadline.within(left - RECORD_SECONDS):  # the sender retries within it
                return stages.sender.send(
                    notification,
                    service,
                    recipient,
                    None if credential is None else credential.material,
                    sandbox=credential is not None and credential.sandbox,
                )

        return send

    def keep(position: int, delivery: Delivery) -> None:
        """The delivery kept by its position, its dead binding removed - on the invocation's
        own thread, as are the metrics that count it."""
        try:
            sent[position] = _removing_dead(batch, delivery)
        except Exception:
            sent[position] = delivery  # sent all the same: never to be sent again
            raise

    to_send = _while_time_left(
        (
            (position, recipient)
            for position, recipient in enumerate(batch.recipients)
            if position not in already
        ),
        stages,
    )
    if stages.sends_in_flight <= 1:
        for position, recipient, left in to_send:
            keep(position, start(recipient, left)())
    else:
        _send_at_once(to_send, start, stages.sends_in_flight, keep)


def _send_at_once(
    to_send: Iterator[tuple[int, Recipient, float]],
    start: Callable[[Recipient, float], Callable[[], Delivery]],
    in_flight_most: int,
    keep: Callable[[int, Delivery], None],
) -> None:
    """The sends `start` prepares, `in_flight_most` at once on worker threads: the next starts
    when one ends (so its time left is measured as it starts); none after one raised."""
    with ThreadPoolExecutor(max_workers=in_flight_most, thread_name_prefix="send") as workers:
        in_flight: dict[Future[Delivery], int] = {}
        failure: BaseException | None = None

        def settle(futures: Iterable[Future[Delivery]]) -> None:
            nonlocal failure
            for future in futures:
                position = in_flight.pop(future)
                error = future.exception()
                if error is None:
                    try:
                        keep(position, future.result())
                    except Exception as kept_badly:
                        error = kept_badly
                if error is not None and failure is None:
                    failure = error

        for position, recipient, left in to_send:
            send = start(recipient, left)
            # A copy of the context for each send: one context cannot be entered by two
            # threads at once.
            in_flight[workers.submit(contextvars.copy_context().run, send)] = position
            if len(in_flight) >= in_flight_most:
                settle(wait(in_flight, return_when=FIRST_COMPLETED).done)
            if failure is not None:
                break
        settle(wait(in_flight).done)
    if failure is not None:
        raise failure


def _while_time_left(
    recipients: Iterator[tuple[int, Recipient]], stages: Stages
) -> Iterator[tuple[int, Recipient, float]]:
    """The recipients, each with the time left when its turn comes, while a send still has
    time to start and be recorded."""
    for position, recipient in recipients:
        left = stages.time_left()
        if left < SEND_SECONDS:
            return
        yield position, recipient, left


def _removing_dead(batch: DeliveryBatch, delivery: Delivery) -> Delivery:
    """The binding of a dead address removed, if it is still that binding."""
    sid = delivery.recipient.binding_sid
    if not delivery.dead_address or sid is None:
        return delivery
    reason = (
        DeadTokenReason.UNREGISTERED
        if delivery.error_message is None or "unregistered" in delivery.error_message.lower()
        else DeadTokenReason.INVALID
    )
    try:
        removed = remove_dead_token(
            batch.account_sid,
            batch.service_sid,
            delivery.recipient.address,
            binding_sid=sid,
            reason=reason,
        )
    except MissingService:
        return delivery
    return replace(delivery, binding_removed=removed is not None)


def _counts(deliveries: list[Delivery]) -> DeliveryCounts:
    sent = sum(1 for delivery in deliveries if delivery.status is DeliveryStatus.SENT)
    return DeliveryCounts(
        sent=sent,
        failed=len(deliveries) - sent,
        dead_bindings_removed=sum(1 for delivery in deliveries if delivery.binding_removed),
    )


def _report(
    notification: Notification,
    service: Service,
    deliveries: list[Delivery],
    reporter: CallbackReporter,
) -> None:
    """The deliveries to the notification's callback (if it has one): SequenceId from the
    notification's counter; IsFinal on the one callback that sees nothing pending any more."""
    if not _has_callback(notification, service):
        return
    store = dependencies.notification_store()
    tally = store.tally(notification.account_sid, notification.sid)
    counts = tally.counts
    final = (
        counts.resolved
        and counts.pending == 0
        and store.finish(notification.account_sid, notification.sid)
    )
    reporter.report(notification, service, deliveries, first_sequence=tally.sequence, final=final)


def _has_callback(notification: Notification, service: Service) -> bool:
    return bool(
        notification.delivery_callback_url
        or (service.delivery_callback_enabled and service.delivery_callback_url)
    )


def _about(batch: DeliveryBatch) -> dict[str, object]:
    return {"notification_sid": batch.notification_sid, "sequence": batch.sequence}


def stages_for(context: Any) -> Stages:
    """The stages of the invocation `context` (a Lambda context) belongs to: its claims last
    as long as it may still run."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    lease = (remaining() / 1000 if remaining is not None else 900.0) + LEASE_MARGIN_SECONDS
    return Stages(
        credentials=dependencies.credential_source(),
        sender=dependencies.sender(),
        reporter=dependencies.callback_reporter(),
        lease_seconds=lease,
        time_left=deadline.remaining,
        clock=lambda: dependencies.now().timestamp(),
        sends_in_flight=dependencies.settings().sends_in_flight,
    )


def deliver_messages(records: Iterable[Mapping[str, Any]], stages: Stages) -> list[str]:
    """Deliver each message's batch; the IDs of those to deliver again (failed, claimed
    elsewhere, or left unfinished for lack of time), the visibility of the latter two set to
    when they should come back."""
    invocation = Invocation()
    failed: list[str] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            batch = DeliveryBatch.from_message(record.get("body") or "")
        except (ValueError, KeyError, TypeError):
            count("DeliveryBatchesDropped")
            logger.error("Delivery batch dropped: malformed", extra={"message_id": message_id})
            continue
        try:
            comeback = deliver(batch, stages, invocation)
        except Exception as error:
            # Not logger.exception: an exception's message can echo an address.
            logger.error("Delivery batch failed", extra={**_about(batch), **failure(error)})
            failed.append(message_id)
            continue
        if comeback is not None:
            _show_again(record, comeback.after_seconds, batch)
            failed.append(message_id)
    return failed


def _show_again(record: Mapping[str, Any], after_seconds: int, batch: DeliveryBatch) -> None:
    """The message of `record` shown again by the delivery queue in `after_seconds`; if that
    fails, it comes back after the queue's visibility timeout all the same."""
    queue_url = dependencies.settings().delivery_queue_url
    try:
        if queue_url is None:
            raise RuntimeError("DELIVERY_QUEUE_URL is not set")
        dependencies.sqs().change_message_visibility(
            QueueUrl=queue_url,
            ReceiptHandle=str(record.get("receiptHandle", "")),
            VisibilityTimeout=after_seconds,
        )
    except Exception as error:
        count("DeliveryVisibilityUnchanged")
        logger.warning(
            "Delivery batch's visibility unchanged: back after the queue's timeout",
            extra={**_about(batch), **failure(error)},
        )
