"""Fan-out against moto: recipients cut into batches of up to DELIVERY_BATCH_SIZE and
DELIVERY_BATCH_BYTES, queued in SendMessageBatch calls within SQS's limits, and each batch's
sends run `sends_in_flight` at once in the delivering function - every recipient sent once,
its progress recorded by position whatever order the sends end in, a function stopped by its
deadline or by a send that raised leaving exactly the rest to the next one."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from contextvars import ContextVar
from typing import Any

import pytest

from local_api.events import sqs_event
from notify_bindings import dependencies
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import (
    DELIVERY_BATCH_BYTES,
    DELIVERY_BATCH_SIZE,
    Delivery,
    DeliveryBatch,
    Notification,
    Recipient,
)
from notify_bindings.operations import delivery, resolution
from notify_bindings.platform import deadline
from tests.handlers.helpers import create
from tests.handlers.test_notifications import (
    DELIVER,
    RESOLVE,
    Fakes,
    RecordingCredentials,
    RecordingReporter,
    RecordingSender,
    drain,
    fetched,
    notify,
)

A_NOTIFICATION = Notification(
    sid="NT" + "0" * 32,
    account_sid="AC" + "0" * 32,
    service_sid="IS" + "0" * 32,
    date_created=dependencies.now(),
)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    made = Fakes(RecordingSender(), RecordingCredentials(), RecordingReporter())
    monkeypatch.setattr(dependencies, "sender", lambda: made.sender)
    monkeypatch.setattr(dependencies, "credential_source", lambda: made.credentials)
    monkeypatch.setattr(dependencies, "callback_reporter", lambda: made.reporter)
    return made


def recipients(count: int, *, address_length: int = 64) -> list[Recipient]:
    return [
        Recipient(
            BindingType.FCM,
            f"{n:06d}".ljust(address_length, "x"),
            binding_sid=f"BS{n:032x}",
            credential_sid="CR" + "1" * 32,
            notification_protocol_version="3",
        )
        for n in range(count)
    ]


def with_settings(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    changed = dependencies.settings()._replace(**changes)
    monkeypatch.setattr(dependencies, "settings", lambda: changed)


def resolved(functions: Any, aws: Any, sid: str) -> list[dict[str, Any]]:
    for message in drain(aws["ResolveQueue"], sid):
        answer = functions.invoke(RESOLVE, sqs_event([message], aws["ResolveQueue"].arn))
        assert answer == {"batchItemFailures": []}
    return drain(aws["DeliveryQueue"], sid)


# -- batches -----------------------------------------------------------------------------------


def test_given_2345_push_recipients_when_batched_then_batches_of_1000_in_order():
    given = recipients(2345)

    batches = resolution.batches_of(A_NOTIFICATION, given, 7)

    assert [len(batch.recipients) for batch in batches] == [DELIVERY_BATCH_SIZE, 1000, 345]
    assert [batch.sequence for batch in batches] == [7, 8, 9]
    assert [r for batch in batches for r in batch.recipients] == given
    assert all(len(batch.to_message().encode()) <= DELIVERY_BATCH_BYTES for batch in batches)


def test_given_long_addresses_when_batched_then_each_message_is_cut_to_the_byte_limit():
    given = recipients(2000, address_length=400)

    batches = resolution.batches_of(A_NOTIFICATION, given, 0)

    sizes = [len(batch.to_message().encode()) for batch in batches]
    assert len(batches) > 2
    assert max(sizes) <= DELIVERY_BATCH_BYTES
    # Full: one more recipient would have passed the limit.
    assert all(size > DELIVERY_BATCH_BYTES - 500 for size in sizes[:-1])
    assert [r for batch in batches for r in batch.recipients] == given


def test_given_several_channels_when_batched_then_batches_are_filled_across_them_in_order():
    given = [
        Recipient(BindingType.SMS, f"+1555000000{n}", binding_sid=f"BS{n:032x}") for n in range(4)
    ] + recipients(5)

    batches = resolution.batches_of(A_NOTIFICATION, given, 0, size=3)

    assert [[r.binding_type for r in batch.recipients] for batch in batches] == [
        [BindingType.FCM] * 3,
        [BindingType.FCM] * 2 + [BindingType.SMS],
        [BindingType.SMS] * 3,
    ]


def test_given_large_batches_when_queued_then_each_call_holds_at_most_10_messages_and_256_kib():
    small = resolution.batches_of(A_NOTIFICATION, recipients(25), 0, size=1)
    large = resolution.batches_of(A_NOTIFICATION, recipients(2000, address_length=400), 25)

    calls = list(resolution._sends(small + large))

    assert [len(entries) for entries in calls[:3]] == [10, 10, 6]  # 5 small, then the first large
    assert all(len(entries) <= resolution.MESSAGES_PER_SEND for entries in calls)
    assert all(
        sum(len(entry["MessageBody"].encode()) for entry in entries) <= resolution.BYTES_PER_SEND
        for entries in calls
    )
    assert [int(entry["Id"]) for entries in calls for entry in entries] == list(
        range(len(small) + len(large))
    )


def test_given_pages_smaller_than_a_batch_when_resolved_then_batches_fill_up_across_pages(
    invoke, service_sid, aws, functions, monkeypatch
):
    with_settings(monkeypatch, delivery_batch_size=4)
    monkeypatch.setattr(resolution, "RESOLVE_PAGE_SIZE", 3)
    for n in range(10):
        create(
            invoke,
            service_sid,
            Identity=f"gil{n}",
            Tag="gil",
            BindingType="apn",
            Address=f"token-{n}",
        )
    sid = notify(invoke, service_sid, {"Tag": "gil", "Body": "Hi"})["sid"]

    messages = resolved(functions, aws, sid)

    batches = sorted(
        (DeliveryBatch.from_message(m["Body"]) for m in messages), key=lambda b: b.sequence
    )
    assert [len(batch.recipients) for batch in batches] == [4, 4, 2]
    assert [batch.sequence for batch in batches] == [0, 1, 2]
    assert len({r.address for batch in batches for r in batch.recipients}) == 10
    assert fetched(invoke, service_sid, sid)["deliveries"]["total"] == 10


# -- sends in flight ---------------------------------------------------------------------------


class ConcurrentSender:
    """Wraps the recording sender: each send takes a little while (in no fixed order), and the
    most sends seen at once is kept."""

    def __init__(self, inner: Any, *, raising_for: str | None = None) -> None:
        self.inner = inner
        self.raising_for = raising_for
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.windows: list[float] = []
        self.seen: list[object] = []
        self.random = random.Random(18)  # nosec B311 - not for secrets

    def send(self, notification: Any, service: Any, recipient: Recipient, *args: Any, **kw: Any):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            pause = self.random.uniform(0.001, 0.02)
        try:
            self.windows.append(deadline.remaining())
            self.seen.append(TRACE.get())
            time.sleep(pause)
            if recipient.address == self.raising_for:
                raise RuntimeError("the sender broke")
            delivery: Delivery = self.inner.send(notification, service, recipient, *args, **kw)
            return delivery
        finally:
            with self.lock:
                self.now -= 1


TRACE: ContextVar[str] = ContextVar("fanout_test_trace", default="none")


def stages_with(fakes: Fakes, sender: Any, time_left: Any, in_flight: int) -> delivery.Stages:
    return delivery.Stages(
        fakes.credentials,
        sender,
        fakes.reporter,
        60.0,
        time_left,
        lambda: dependencies.now().timestamp(),
        sends_in_flight=in_flight,
    )


def sent_addresses(fakes: Fakes) -> Counter[str]:
    return Counter(recipient.address for _, recipient, _ in fakes.sender.sent)


def test_given_8_sends_in_flight_when_delivered_then_they_run_at_once_each_sent_once(
    invoke, service_sid, aws, functions, fakes, monkeypatch
):
    with_settings(monkeypatch, sends_in_flight=8)
    sender = ConcurrentSender(fakes.sender)
    monkeypatch.setattr(dependencies, "sender", lambda: sender)
    for n in range(40):
        create(
            invoke,
            service_sid,
            Identity=f"hal{n}",
            Tag="hal",
            BindingType="fcm",
            Address=f"fcm-{n:02d}",
        )
    create(invoke, service_sid, Identity="hal", Tag="hal", BindingType="fcm", Address="dead-fcm")
    sid = notify(
        invoke,
        service_sid,
        {"Tag": "hal", "Body": "Hi", "DeliveryCallbackUrl": "https://example.com/cb"},
    )["sid"]
    (message,) = resolved(functions, aws, sid)

    answer = functions.invoke(DELIVER, sqs_event([message], aws["DeliveryQueue"].arn))

    assert answer == {"batchItemFailures": []}
    assert 2 <= sender.most <= 8
    assert sent_addresses(fakes) == Counter([f"fcm-{n:02d}" for n in range(40)] + ["dead-fcm"])
    assert fetched(invoke, service_sid, sid)["deliveries"] == {
        "total": 41,
        "sent": 40,
        "failed": 1,
        "pending": 0,
        "dead_bindings_removed": 1,
    }
    ((_, _, final, reported),) = fakes.reporter.reports
    batch = DeliveryBatch.from_message(message["Body"])
    assert final is True
    # Reported in the batch's order, whatever order the sends ended in.
    assert [d.recipient for d in reported] == list(batch.recipients)


def test_given_sends_on_worker_threads_then_each_runs_in_a_copy_of_the_invocations_context(
    invoke, service_sid, aws, functions, fakes
):
    for n in range(6):
        create(
            invoke,
            service_sid,
            Identity=f"ida{n}",
            Tag="ida",
            BindingType="apn",
            Address=f"token-{n}",
        )
    sid = notify(invoke, service_sid, {"Tag": "ida", "Body": "Hi"})["sid"]
    (message,) = resolved(functions, aws, sid)
    sender = ConcurrentSender(fakes.sender)
    stages = stages_with(fakes, sender, deadline.remaining, 3)

    token = TRACE.set("invocation")
    try:
        with deadline.within(100.0):
            comeback = delivery.deliver(
                DeliveryBatch.from_message(message["Body"]), stages, delivery.Invocation()
            )
    finally:
        TRACE.reset(token)

    assert comeback is None
    assert sender.seen == ["invocation"] * 6
    assert all(window <= 100.0 - delivery.RECORD_SECONDS for window in sender.windows)
    assert all(window > 100.0 - delivery.RECORD_SECONDS - 5.0 for window in sender.windows)


def test_given_sends_in_flight_when_time_runs_out_then_the_sent_are_recorded_the_rest_sent_next(
    invoke, service_sid, aws, functions, fakes, monkeypatch
):
    for n in range(20):
        create(
            invoke,
            service_sid,
            Identity=f"jo{n}",
            Tag="jo",
            BindingType="fcm",
            Address=f"fcm-{n:02d}",
        )
    sid = notify(invoke, service_sid, {"Tag": "jo", "Body": "Hi"})["sid"]
    (message,) = resolved(functions, aws, sid)
    batch = DeliveryBatch.from_message(message["Body"])
    left = iter([60.0] * 7)  # time for seven sends to start, then none
    sender = ConcurrentSender(fakes.sender)

    comeback = delivery.deliver(
        batch, stages_with(fakes, sender, lambda: next(left, 0.0), 4), delivery.Invocation()
    )
    middle = fetched(invoke, service_sid, sid)["deliveries"]
    first = set(sent_addresses(fakes))
    with_settings(monkeypatch, sends_in_flight=4)
    resumed = functions.invoke(DELIVER, sqs_event([message], aws["DeliveryQueue"].arn))

    assert comeback is not None
    assert first == {r.address for r in batch.recipients[:7]}
    assert middle == {
        "total": 20,
        "sent": 7,
        "failed": 0,
        "pending": 13,
        "dead_bindings_removed": 0,
    }
    assert resumed == {"batchItemFailures": []}
    assert sent_addresses(fakes) == Counter(f"fcm-{n:02d}" for n in range(20))
    assert fetched(invoke, service_sid, sid)["deliveries"]["pending"] == 0


def test_given_a_send_that_raises_when_the_batch_comes_back_then_only_the_unsent_are_sent(
    invoke, service_sid, aws, functions, fakes, monkeypatch
):
    with_settings(monkeypatch, sends_in_flight=4)
    for n in range(12):
        create(
            invoke,
            service_sid,
            Identity=f"kim{n}",
            Tag="kim",
            BindingType="apn",
            Address=f"token-{n:02d}",
        )
    sid = notify(invoke, service_sid, {"Tag": "kim", "Body": "Hi"})["sid"]
    (message,) = resolved(functions, aws, sid)
    broken = ConcurrentSender(fakes.sender, raising_for="token-05")
    monkeypatch.setattr(dependencies, "sender", lambda: broken)

    failed = functions.invoke(DELIVER, sqs_event([message], aws["DeliveryQueue"].arn))
    before = Counter(sent_addresses(fakes))
    middle = fetched(invoke, service_sid, sid)["deliveries"]
    monkeypatch.setattr(dependencies, "sender", lambda: fakes.sender)  # mended
    again = functions.invoke(DELIVER, sqs_event([message], aws["DeliveryQueue"].arn))

    assert failed == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert "token-05" not in before
    assert middle["sent"] == sum(before.values()) >= 1
    assert again == {"batchItemFailures": []}  # the claim was released: no wait for the lease
    assert sent_addresses(fakes) == Counter(f"token-{n:02d}" for n in range(12))
    assert fetched(invoke, service_sid, sid)["deliveries"]["pending"] == 0


def test_given_a_dead_bindings_removal_that_fails_when_the_batch_comes_back_then_it_is_not_resent(
    invoke, service_sid, aws, functions, fakes, monkeypatch
):
    with_settings(monkeypatch, sends_in_flight=4)
    for n in range(6):
        create(
            invoke, service_sid, Identity=f"lee{n}", Tag="lee", BindingType="apn", Address=f"ok-{n}"
        )
    create(invoke, service_sid, Identity="lee", Tag="lee", BindingType="apn", Address="dead-lee")
    sid = notify(invoke, service_sid, {"Tag": "lee", "Body": "Hi"})["sid"]
    (message,) = resolved(functions, aws, sid)
    removals: list[str] = []

    def unavailable(*args: Any, **kwargs: Any) -> None:
        removals.append(args[2])
        raise RuntimeError("DynamoDB unavailable")

    monkeypatch.setattr(delivery, "remove_dead_token", unavailable)

    failed = functions.invoke(DELIVER, sqs_event([message], aws["DeliveryQueue"].arn))
    again = functions.invoke(DELIVER, sqs_event([message], aws["DeliveryQueue"].arn))

    assert failed == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert removals == ["dead-lee"]
    assert again == {"batchItemFailures": []}
    # Each address sent once: the dead one was recorded (failed) though its binding stayed.
    assert sent_addresses(fakes) == Counter([f"ok-{n}" for n in range(6)] + ["dead-lee"])
    assert fetched(invoke, service_sid, sid)["deliveries"] == {
        "total": 7,
        "sent": 6,
        "failed": 1,
        "pending": 0,
        "dead_bindings_removed": 0,
    }
