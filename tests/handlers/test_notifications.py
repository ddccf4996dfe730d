"""Notifications through their functions against moto: CreateNotificationFunction and
FetchNotificationFunction behind their routes, ResolveNotificationFunction and
DeliverNotificationsFunction fed with the messages of their queues. The providers, credentials
and callbacks are recording fakes of the delivering function's protocols."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from local_api.event_sources import SqsPoller
from local_api.events import LambdaContext, sqs_event
from local_api.runtime import LocalFunctions, LocalQueue, sqs_client
from notify_bindings import dependencies
from notify_bindings.domain.notifications import (
    Delivery,
    DeliveryBatch,
    DeliveryStatus,
    Notification,
    OpenedCredential,
    Recipient,
)
from notify_bindings.domain.services import Service
from tests.conftest import Invoker, new_service
from tests.factories import new_credential
from tests.handlers.helpers import FETCH, bindings_path, create

CREATE_NOTIFICATION = "CreateNotificationFunction"
FETCH_NOTIFICATION = "FetchNotificationFunction"
RESOLVE = "ResolveNotificationFunction"
DELIVER = "DeliverNotificationsFunction"
TWILIO_FIELDS = {
    "sid", "account_sid", "service_sid", "date_created", "identities", "tags", "segments",
    "priority", "ttl", "title", "body", "sound", "action", "data", "apn", "gcm", "fcm", "sms",
    "facebook_messenger", "alexa",
}  # fmt: skip


def notifications_path(service_sid: str) -> str:
    return f"/v1/Services/{service_sid}/Notifications"


@dataclass
class RecordingSender:
    """Sends nothing: records each send; addresses beginning `dead` are reported dead."""

    sent: list[tuple[str, Recipient, object | None]] = field(default_factory=list)
    sandboxes: list[bool] = field(default_factory=list)

    def send(
        self,
        notification: Notification,
        service: Service,
        recipient: Recipient,
        credential: object | None,
        *,
        sandbox: bool,
    ) -> Delivery:
        self.sent.append((notification.sid, recipient, credential))
        self.sandboxes.append(sandbox)
        if recipient.address.startswith("dead"):
            return Delivery(
                recipient, DeliveryStatus.FAILED, None, 52134, "Unregistered", dead_address=True
            )
        return Delivery(recipient, DeliveryStatus.SENT, f"id-{len(self.sent)}")


@dataclass
class RecordingCredentials:
    opened: list[tuple[str, str]] = field(default_factory=list)

    def open(self, account_sid: str, credential_sid: str) -> OpenedCredential | None:
        self.opened.append((account_sid, credential_sid))
        return OpenedCredential(
            ("credential", credential_sid), sandbox=credential_sid.endswith("S")
        )


@dataclass
class RecordingReporter:
    reports: list[tuple[str, int, bool, list[Delivery]]] = field(default_factory=list)

    def report(
        self,
        notification: Notification,
        service: Service,
        deliveries: Any,
        *,
        first_sequence: int,
        final: bool,
    ) -> object:
        self.reports.append((notification.sid, first_sequence, final, list(deliveries)))
        return None


@dataclass
class Fakes:
    sender: RecordingSender
    credentials: RecordingCredentials
    reporter: RecordingReporter


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    made = Fakes(RecordingSender(), RecordingCredentials(), RecordingReporter())
    monkeypatch.setattr(dependencies, "sender", lambda: made.sender)
    monkeypatch.setattr(dependencies, "credential_source", lambda: made.credentials)
    monkeypatch.setattr(dependencies, "callback_reporter", lambda: made.reporter)
    return made


def drain(queue: LocalQueue, notification_sid: str) -> list[dict[str, Any]]:
    """The queue's messages of this notification (others' are left alone)."""
    client = sqs_client(None)
    mine: list[dict[str, Any]] = []
    while True:
        got = client.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        fresh = [
            m
            for m in got
            if notification_sid in m["Body"]
            and m["MessageId"] not in {x["MessageId"] for x in mine}
        ]
        if not fresh:
            return mine
        for message in fresh:
            client.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
        mine += fresh


def run_pipeline(
    functions: LocalFunctions, aws: dict[str, LocalQueue], sid: str
) -> list[dict[str, Any]]:
    """Resolve (continuations included), then deliver every batch; the delivering answers."""
    while resolving := drain(aws["ResolveQueue"], sid):
        for message in resolving:
            answer = functions.invoke(RESOLVE, sqs_event([message], aws["ResolveQueue"].arn))
            assert answer == {"batchItemFailures": []}
    answers = []
    for message in drain(aws["DeliveryQueue"], sid):
        answers.append(functions.invoke(DELIVER, sqs_event([message], aws["DeliveryQueue"].arn)))
    return answers


def notify(invoke: Invoker, service_sid: str, form: Any) -> dict[str, Any]:
    reply = invoke(CREATE_NOTIFICATION, notifications_path(service_sid), form=form)
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.json()
    return body


def fetched(invoke: Invoker, service_sid: str, sid: str) -> dict[str, Any]:
    reply = invoke(FETCH_NOTIFICATION, f"{notifications_path(service_sid)}/{sid}")
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.json()
    return body


# -- create and fetch -------------------------------------------------------------------------


def test_given_an_identity_when_a_notification_is_created_then_201_with_exactly_twilios_json(
    invoke, service_sid, aws
):
    body = notify(invoke, service_sid, {"Identity": "alice", "Body": "Hi", "Data": '{"a": 1}'})

    assert set(body) == TWILIO_FIELDS
    assert body["sid"].startswith("NT")
    assert len(body["sid"]) == 34
    assert body["identities"] == ["alice"]
    assert body["body"] == "Hi"
    assert body["data"] == {"a": 1}
    assert body["priority"] == "high"
    assert body["ttl"] == 2419200
    tasks = drain(aws["ResolveQueue"], body["sid"])
    assert [json.loads(task["Body"])["sid"] for task in tasks] == [body["sid"]]


def test_given_a_notification_when_fetched_before_resolution_then_pending_is_null(
    invoke, service_sid, aws
):
    sid = notify(invoke, service_sid, {"Identity": "alice", "Body": "Hi"})["sid"]

    body = fetched(invoke, service_sid, sid)

    assert set(body) == TWILIO_FIELDS | {"deliveries"}
    assert body["deliveries"] == {
        "total": 0,
        "sent": 0,
        "failed": 0,
        "pending": None,
        "dead_bindings_removed": 0,
    }
    drain(aws["ResolveQueue"], sid)


def test_given_another_services_notification_when_fetched_then_404(
    invoke, service_sid, account, aws
):
    sid = notify(invoke, service_sid, {"Identity": "alice", "Body": "Hi"})["sid"]
    other = new_service(account.sid)

    assert invoke(FETCH_NOTIFICATION, f"{notifications_path(other)}/{sid}").status == 404
    assert (
        invoke(FETCH_NOTIFICATION, f"{notifications_path(service_sid)}/NT{'0' * 32}").status == 404
    )
    drain(aws["ResolveQueue"], sid)


def test_given_an_unknown_service_when_notified_then_404(invoke):
    reply = invoke(CREATE_NOTIFICATION, notifications_path(f"IS{'0' * 32}"), form={"Identity": "a"})

    assert reply.status == 404
    assert reply.json()["code"] == 20404


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ([("Identity", f"user{i}") for i in range(21)], "Identity"),
        ([("Tag", f"t{i}") for i in range(6)], "Tag"),
        (
            {"Identity": "alice", "ToBinding": '{"binding_type":"sms","address":"+15551234567"}'},
            "ToBinding",
        ),
        ({"ToBinding": '{"binding_type":"sms","address":"5551234567"}'}, "ToBinding"),
        ({"ToBinding": '["sms"]'}, "ToBinding"),
        ({"Body": "Hi"}, "Identity"),
        ({"Identity": "alice", "Data": '{"twi_x": 1}'}, "Data"),
        ({"Identity": "alice", "Data": "[1]"}, "Data"),
        ({"Identity": "alice", "Fcm": '{"to": "x"}'}, "Fcm"),
        ({"Identity": "alice", "Gcm": '{"registration_ids": ["x"]}'}, "Gcm"),
        ({"Identity": "alice", "Apn": '{"twi_body": "x"}'}, "Apn"),
        ({"Identity": "alice", "Priority": "urgent"}, "Priority"),
        ({"Identity": "alice", "Ttl": "2419201"}, "Ttl"),
        ({"Identity": "alice", "Ttl": "-1"}, "Ttl"),
        (
            {"Identity": "alice", "DeliveryCallbackUrl": "ftp://example.com/x"},
            "DeliveryCallbackUrl",
        ),
        ({"Identity": "a\x00b"}, "Identity"),
    ],
)
def test_given_bad_input_when_notified_then_400_20001_naming_the_field(
    invoke, service_sid, form, named
):
    reply = invoke(CREATE_NOTIFICATION, notifications_path(service_sid), form=form)

    assert reply.status == 400, reply.body
    assert reply.json()["code"] == 20001
    assert named in reply.json()["message"]


# -- the pipeline -----------------------------------------------------------------------------


def test_given_bindings_of_an_identity_when_notified_then_each_is_sent_once_and_counted(
    invoke, account, aws, functions, fakes
):
    service_sid = new_service(account.sid, apn_credential_sid=f"CR{'a' * 32}")
    bindings_own = new_credential(account.sid, "fcm")
    create(invoke, service_sid, Identity="alice", BindingType="apn", Address="apn-token-1")
    create(
        invoke,
        service_sid,
        Identity="alice",
        BindingType="fcm",
        Address="fcm-token-1",
        CredentialSid=bindings_own,
    )
    create(invoke, service_sid, Identity="alice", BindingType="sms", Address="+15551230001")
    create(invoke, service_sid, Identity="bob", BindingType="apn", Address="apn-token-2")
    sid = notify(invoke, service_sid, {"Identity": "alice", "Body": "Hi"})["sid"]

    answers = run_pipeline(functions, aws, sid)

    assert answers
    assert all(answer == {"batchItemFailures": []} for answer in answers)
    sent = {
        (recipient.binding_type.value, recipient.address, recipient.credential_sid)
        for _, recipient, _ in fakes.sender.sent
    }
    assert sent == {
        ("apn", "apn-token-1", f"CR{'a' * 32}"),  # the Service's
        ("fcm", "fcm-token-1", bindings_own),  # the binding's own
        ("sms", "+15551230001", None),  # neither: the sender fails it
    }
    assert len(fakes.sender.sent) == 3
    assert fetched(invoke, service_sid, sid)["deliveries"] == {
        "total": 3,
        "sent": 3,
        "failed": 0,
        "pending": 0,
        "dead_bindings_removed": 0,
    }
    assert fakes.reporter.reports == []  # no callback URL: no callback, no counter write


def test_given_a_redelivered_batch_when_delivered_again_then_nothing_is_sent_twice(
    invoke, service_sid, aws, functions, fakes
):
    for n in range(3):
        create(invoke, service_sid, Identity="carol", BindingType="apn", Address=f"token-{n}")
    sid = notify(invoke, service_sid, {"Identity": "carol", "Body": "Hi"})["sid"]
    for message in drain(aws["ResolveQueue"], sid):
        functions.invoke(RESOLVE, sqs_event([message], aws["ResolveQueue"].arn))
    (batch,) = drain(aws["DeliveryQueue"], sid)

    first = functions.invoke(DELIVER, sqs_event([batch], aws["DeliveryQueue"].arn))
    again = functions.invoke(DELIVER, sqs_event([batch], aws["DeliveryQueue"].arn))

    assert first == again == {"batchItemFailures": []}
    assert len(fakes.sender.sent) == 3
    assert fetched(invoke, service_sid, sid)["deliveries"]["sent"] == 3


def test_given_a_function_out_of_time_when_the_batch_comes_back_then_only_the_rest_is_sent(
    invoke, service_sid, aws, functions, fakes, monkeypatch
):
    from notify_bindings.operations import delivery

    for n in range(4):
        create(invoke, service_sid, Identity="dave", BindingType="fcm", Address=f"fcm-{n}")
    sid = notify(invoke, service_sid, {"Identity": "dave", "Body": "Hi"})["sid"]
    for message in drain(aws["ResolveQueue"], sid):
        functions.invoke(RESOLVE, sqs_event([message], aws["ResolveQueue"].arn))
    (message,) = drain(aws["DeliveryQueue"], sid)
    batch = DeliveryBatch.from_message(message["Body"])
    left = iter([60.0, 60.0, 0.0])  # time for two sends, then none
    stages = delivery.Stages(
        fakes.credentials,
        fakes.sender,
        fakes.reporter,
        60.0,
        lambda: next(left, 0.0),
        lambda: dependencies.now().timestamp(),
    )

    comeback = delivery.deliver(batch, stages, delivery.Invocation())
    middle = fetched(invoke, service_sid, sid)["deliveries"]
    resumed = functions.invoke(DELIVER, sqs_event([message], aws["DeliveryQueue"].arn))

    assert comeback is not None
    assert 1 <= comeback.after_seconds <= delivery.RESUME_SECONDS_MOST
    assert middle == {"total": 4, "sent": 2, "failed": 0, "pending": 2, "dead_bindings_removed": 0}
    assert resumed == {"batchItemFailures": []}
    assert sorted(r.address for _, r, _ in fakes.sender.sent) == [f"fcm-{n}" for n in range(4)]
    assert fetched(invoke, service_sid, sid)["deliveries"]["pending"] == 0


def test_given_little_time_left_when_a_send_retries_then_its_retries_leave_the_record_its_time(
    invoke, service_sid, aws, functions, fakes
):
    from notify_bindings.operations import delivery
    from notify_bindings.platform import deadline

    create(invoke, service_sid, Identity="fay", BindingType="sms", Address="+15551230009")
    sid = notify(invoke, service_sid, {"Identity": "fay", "Body": "Hi"})["sid"]
    for message in drain(aws["ResolveQueue"], sid):
        functions.invoke(RESOLVE, sqs_event([message], aws["ResolveQueue"].arn))
    (message,) = drain(aws["DeliveryQueue"], sid)
    left = delivery.SEND_SECONDS + 1.0  # time for a send to start, and no more
    windows: list[float] = []
    sender: RecordingSender = fakes.sender

    class Timed:
        def send(self, *args: Any, **kwargs: Any) -> Delivery:
            windows.append(deadline.remaining())  # what the sender's retries may use
            return sender.send(*args, **kwargs)

    stages = delivery.Stages(
        fakes.credentials,
        Timed(),
        fakes.reporter,
        60.0,
        lambda: left,
        lambda: dependencies.now().timestamp(),
    )

    with deadline.within(left):
        comeback = delivery.deliver(
            DeliveryBatch.from_message(message["Body"]), stages, delivery.Invocation()
        )

    assert comeback is None
    (window,) = windows
    assert window <= left - delivery.RECORD_SECONDS
    assert window >= delivery.SEND_SECONDS - delivery.RECORD_SECONDS - 1.0


def test_given_a_batch_claimed_by_another_function_when_delivered_then_it_comes_back_unsent(
    invoke, service_sid, aws, functions, fakes
):
    create(invoke, service_sid, Identity="erin", BindingType="apn", Address="erin-token")
    sid = notify(invoke, service_sid, {"Identity": "erin", "Body": "Hi"})["sid"]
    for message in drain(aws["ResolveQueue"], sid):
        functions.invoke(RESOLVE, sqs_event([message], aws["ResolveQueue"].arn))
    (message,) = drain(aws["DeliveryQueue"], sid)
    batch = DeliveryBatch.from_message(message["Body"])
    account_sid = batch.account_sid
    assert dependencies.notification_store().claim(
        account_sid, sid, 0, dependencies.now().timestamp(), 300
    )

    answer = functions.invoke(DELIVER, sqs_event([message], aws["DeliveryQueue"].arn))

    assert answer == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert fakes.sender.sent == []


# -- when a batch's message comes back ---------------------------------------------------------


@pytest.fixture
def visibility_changes() -> Iterator[list[dict[str, Any]]]:
    """The ChangeMessageVisibility calls of the functions' own SQS client, as sent."""
    changes: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        changes.append(dict(params))

    events = dependencies.sqs().meta.events
    events.register("provide-client-params.sqs.ChangeMessageVisibility", record)
    try:
        yield changes
    finally:
        events.unregister("provide-client-params.sqs.ChangeMessageVisibility", record)


def in_flight(queue: LocalQueue, notification_sid: str) -> dict[str, Any]:
    """The queue's one message of this notification, received as Lambda's event source
    receives it: hidden for the queue's visibility timeout (others' messages left visible)."""
    client = sqs_client(None)
    for _ in range(20):
        got = client.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        mine = [m for m in got if notification_sid in m["Body"]]
        if mine:
            message: dict[str, Any] = mine[0]
            timeout = client.get_queue_attributes(
                QueueUrl=queue.url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]["VisibilityTimeout"]
            client.change_message_visibility(
                QueueUrl=queue.url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=int(timeout),
            )
            return message
    raise AssertionError("the notification's batch is not on the queue")


def visible_within(queue: LocalQueue, message_id: str, seconds: int) -> bool:
    """Whether the message is received again within `seconds` (deleted if so)."""
    client = sqs_client(None)
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for got in client.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            if got["MessageId"] == message_id:
                client.delete_message(QueueUrl=queue.url, ReceiptHandle=got["ReceiptHandle"])
                return True
            client.change_message_visibility(
                QueueUrl=queue.url, ReceiptHandle=got["ReceiptHandle"], VisibilityTimeout=0
            )
    return False


def delivery_batch(invoke, service_sid, aws, functions, identity: str, count: int) -> str:
    for n in range(count):
        create(invoke, service_sid, Identity=identity, BindingType="fcm", Address=f"{identity}-{n}")
    sid: str = notify(invoke, service_sid, {"Identity": identity, "Body": "Hi"})["sid"]
    for message in drain(aws["ResolveQueue"], sid):
        functions.invoke(RESOLVE, sqs_event([message], aws["ResolveQueue"].arn))
    return sid


def deliver_within(functions, message: dict[str, Any], queue: LocalQueue, seconds: int) -> Any:
    """The delivering function's answer to `message`, invoked with `seconds` to run."""
    context = LambdaContext(DELIVER, timeout_seconds=seconds)
    return functions.functions[DELIVER].load_handler()(sqs_event([message], queue.arn), context)


def no_time_to_send() -> int:
    """An invocation's timeout too short to start a send, long enough to claim and record."""
    from notify_bindings.operations import delivery

    return int(delivery.RECORD_SECONDS) + 4


def test_given_a_function_out_of_time_when_it_returns_the_batch_then_it_is_shown_again_in_seconds(
    invoke, service_sid, aws, functions, fakes, visibility_changes, monkeypatch
):
    from notify_bindings.operations import delivery

    monkeypatch.setattr(delivery, "RESUME_SECONDS_MOST", 2)  # the test waits no longer
    queue = aws["DeliveryQueue"]
    sid = delivery_batch(invoke, service_sid, aws, functions, "gail", 3)
    message = in_flight(queue, sid)

    answer = deliver_within(functions, message, queue, no_time_to_send())

    assert answer == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert fakes.sender.sent == []
    (change,) = visibility_changes
    assert change["QueueUrl"] == queue.url
    assert change["ReceiptHandle"] == message["ReceiptHandle"]
    assert 1 <= change["VisibilityTimeout"] <= 2
    assert visible_within(queue, message["MessageId"], 5)  # not after the queue's 720 s
    resumed = functions.invoke(DELIVER, sqs_event([message], queue.arn))
    assert resumed == {"batchItemFailures": []}
    assert len(fakes.sender.sent) == 3


def test_given_the_local_poller_when_the_deadline_cuts_a_batch_then_its_rest_is_sent_in_seconds(
    invoke, service_sid, aws, functions, fakes, monkeypatch
):
    from notify_bindings.operations import delivery

    monkeypatch.setattr(delivery, "RESUME_SECONDS_MOST", 2)
    queue = aws["DeliveryQueue"]
    (source,) = functions.functions[DELIVER].sqs_sources
    sid = delivery_batch(invoke, service_sid, aws, functions, "kim", 3)
    invocations: list[int] = []

    class FirstCutShort:
        """The delivering function as the poller invokes it: the first time with too little
        time to send, then with its template's timeout."""

        def invoke(self, function: str, event: dict[str, Any]) -> Any:
            invocations.append(len(event["Records"]))
            if len(invocations) == 1:
                context = LambdaContext(DELIVER, timeout_seconds=no_time_to_send())
                return functions.functions[DELIVER].load_handler()(event, context)
            return functions.invoke(function, event)

    poller = SqsPoller(FirstCutShort(), DELIVER, source, queue, sqs_client(None))  # type: ignore[arg-type]
    started = time.monotonic()

    while fetched(invoke, service_sid, sid)["deliveries"]["pending"] and (
        time.monotonic() - started < 10
    ):
        if not poller.poll_once():
            time.sleep(0.2)

    assert fetched(invoke, service_sid, sid)["deliveries"]["sent"] == 3
    assert time.monotonic() - started < 10  # the queue's visibility timeout is 720 s
    assert len(invocations) == 2


def test_given_a_batch_stopped_by_the_deadline_when_it_comes_back_then_within_a_few_seconds(
    invoke, service_sid, aws, functions, fakes
):
    from notify_bindings.operations import delivery

    sid = delivery_batch(invoke, service_sid, aws, functions, "hank", 1)
    (message,) = drain(aws["DeliveryQueue"], sid)
    batch = DeliveryBatch.from_message(message["Body"])
    stages = delivery.Stages(
        fakes.credentials,
        fakes.sender,
        fakes.reporter,
        60.0,
        lambda: 0.0,
        lambda: dependencies.now().timestamp(),
    )

    waits = {delivery.deliver(batch, stages, delivery.Invocation()) for _ in range(40)}
    least = delivery.deliver(batch, replace(stages, jitter=lambda: 0.0), delivery.Invocation())
    most = delivery.deliver(batch, replace(stages, jitter=lambda: 0.9999), delivery.Invocation())

    assert None not in waits
    assert {comeback.after_seconds for comeback in waits if comeback is not None} <= set(
        range(1, delivery.RESUME_SECONDS_MOST + 1)
    )
    assert len(waits) > 1  # jittered
    assert least == delivery.Comeback(1)
    assert most == delivery.Comeback(delivery.RESUME_SECONDS_MOST)


def test_given_a_copy_of_a_claimed_batch_when_delivered_then_it_is_shown_again_as_the_lease_ends(
    invoke, service_sid, aws, functions, fakes, visibility_changes
):
    from notify_bindings.operations import delivery

    queue = aws["DeliveryQueue"]
    sid = delivery_batch(invoke, service_sid, aws, functions, "ivy", 1)
    message = in_flight(queue, sid)
    batch = DeliveryBatch.from_message(message["Body"])
    store = dependencies.notification_store()
    assert store.claim(batch.account_sid, sid, 0, dependencies.now().timestamp(), 300)

    answer = functions.invoke(DELIVER, sqs_event([message], queue.arn))

    assert answer == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert fakes.sender.sent == []
    (change,) = visibility_changes
    assert change["ReceiptHandle"] == message["ReceiptHandle"]
    assert 298 <= change["VisibilityTimeout"] <= 301 + delivery.CLAIMED_JITTER_SECONDS
    assert not visible_within(queue, message["MessageId"], 1)
    sqs_client(None).delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])


def test_given_a_lease_long_over_or_far_off_when_a_copy_comes_back_then_within_sqs_bounds():
    from notify_bindings.operations import delivery

    stages = delivery.Stages(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        60.0,
        lambda: 0.0,
        lambda: 1000.0,
        jitter=lambda: 0.0,
    )

    assert delivery._until_lease_ends(0.0, stages) == delivery.CLAIMED_SECONDS_LEAST
    assert delivery._until_lease_ends(1100.2, stages) == 101
    assert delivery._until_lease_ends(10.0**9, stages) == delivery.VISIBILITY_SECONDS_MOST


def test_given_visibility_that_cannot_be_changed_when_a_batch_stops_then_it_still_comes_back(
    invoke, service_sid, aws, functions, fakes, visibility_changes, monkeypatch
):
    queue = aws["DeliveryQueue"]
    sid = delivery_batch(invoke, service_sid, aws, functions, "jack", 2)
    message = in_flight(queue, sid)
    gone = queue.url.rsplit("/", 1)[0] + "/NoSuchQueue"
    real = dependencies.settings
    changed = real()._replace(delivery_queue_url=gone)
    monkeypatch.setattr(dependencies, "settings", lambda: changed)

    answer = deliver_within(functions, message, queue, no_time_to_send())

    assert answer == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert [change["QueueUrl"] for change in visibility_changes] == [gone]
    # Hidden still for the queue's own timeout, not lost: it comes back then.
    assert not visible_within(queue, message["MessageId"], 1)
    attributes = sqs_client(None).get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) >= 1
    sqs_client(None).delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    monkeypatch.setattr(dependencies, "settings", real)
    assert functions.invoke(DELIVER, sqs_event([message], queue.arn)) == {"batchItemFailures": []}
    assert len(fakes.sender.sent) == 2


def test_given_a_dead_address_when_delivered_then_its_binding_is_removed_and_counted(
    invoke, service_sid, aws, functions, fakes
):
    dead = create(invoke, service_sid, Identity="frank", BindingType="apn", Address="dead-token")
    live = create(invoke, service_sid, Identity="frank", BindingType="apn", Address="live-token")
    sid = notify(
        invoke,
        service_sid,
        {"Identity": "frank", "Body": "Hi", "DeliveryCallbackUrl": "https://example.com/cb"},
    )["sid"]

    run_pipeline(functions, aws, sid)

    assert invoke(FETCH, f"{bindings_path(service_sid)}/{dead['sid']}").status == 404
    assert invoke(FETCH, f"{bindings_path(service_sid)}/{live['sid']}").status == 200
    assert fetched(invoke, service_sid, sid)["deliveries"] == {
        "total": 2,
        "sent": 1,
        "failed": 1,
        "pending": 0,
        "dead_bindings_removed": 1,
    }
    ((reported_sid, sequence, final, deliveries),) = fakes.reporter.reports
    assert (reported_sid, sequence, final) == (sid, 0, True)
    assert sorted(d.binding_removed for d in deliveries) == [False, True]


def test_given_tags_and_an_identity_when_notified_then_only_bindings_matching_both_are_sent(
    invoke, service_sid, aws, functions, fakes
):
    create(invoke, service_sid, Identity="gina", BindingType="apn", Address="g1", Tag=["vip"])
    create(invoke, service_sid, Identity="gina", BindingType="apn", Address="g2")
    create(invoke, service_sid, Identity="hank", BindingType="apn", Address="h1", Tag=["vip"])
    sid = notify(invoke, service_sid, [("Identity", "gina"), ("Tag", "vip"), ("Body", "Hi")])["sid"]

    run_pipeline(functions, aws, sid)

    assert [r.address for _, r, _ in fakes.sender.sent] == ["g1"]


def test_given_direct_addresses_when_notified_then_they_are_sent_without_a_binding(
    invoke, account, aws, functions, fakes
):
    service_sid = new_service(account.sid, fcm_credential_sid=f"CR{'c' * 32}")
    to = [
        json.dumps({"binding_type": "fcm", "address": "direct-1"}),
        json.dumps({"binding_type": "sms", "address": "+15551239999"}),
    ]
    sid = notify(invoke, service_sid, [("ToBinding", item) for item in to] + [("Body", "Hi")])[
        "sid"
    ]

    run_pipeline(functions, aws, sid)

    recipients = sorted(
        (r.address, r.binding_sid, r.credential_sid) for _, r, _ in fakes.sender.sent
    )
    assert recipients == [("+15551239999", None, None), ("direct-1", None, f"CR{'c' * 32}")]
    assert fakes.credentials.opened == [(account.sid, f"CR{'c' * 32}")]


def test_given_a_sandbox_credential_when_delivered_then_the_sender_gets_its_material_and_sandbox(
    invoke, account, aws, functions, fakes
):
    sandboxed, production = f"CR{'d' * 31}S", f"CR{'e' * 32}"
    service_sid = new_service(
        account.sid, apn_credential_sid=sandboxed, fcm_credential_sid=production
    )
    to = [
        json.dumps({"binding_type": "apn", "address": "a1"}),
        json.dumps({"binding_type": "fcm", "address": "f1"}),
    ]
    sid = notify(invoke, service_sid, [("ToBinding", item) for item in to] + [("Body", "Hi")])[
        "sid"
    ]

    run_pipeline(functions, aws, sid)

    sent = sorted(
        (r.address, credential, sandbox)
        for (_, r, credential), sandbox in zip(
            fakes.sender.sent, fakes.sender.sandboxes, strict=True
        )
    )
    assert sent == [
        ("a1", ("credential", sandboxed), True),
        ("f1", ("credential", production), False),
    ]


def test_given_nobody_matches_when_notified_then_201_and_nothing_is_pending(
    invoke, service_sid, aws, functions, fakes
):
    sid = notify(invoke, service_sid, {"Tag": "nobody-has-it", "Body": "Hi"})["sid"]

    run_pipeline(functions, aws, sid)

    assert fakes.sender.sent == []
    assert fetched(invoke, service_sid, sid)["deliveries"] == {
        "total": 0,
        "sent": 0,
        "failed": 0,
        "pending": 0,
        "dead_bindings_removed": 0,
    }


def test_given_an_expired_binding_when_notified_then_it_is_no_recipient(
    invoke, account, aws, functions, fakes, clock
):
    service_sid = new_service(account.sid, binding_ttl_days=1)
    create(invoke, service_sid, Identity="ivan", BindingType="apn", Address="old")
    clock.advance(days=2)
    create(invoke, service_sid, Identity="ivan", BindingType="apn", Address="new")
    sid = notify(invoke, service_sid, {"Identity": "ivan", "Body": "Hi"})["sid"]

    run_pipeline(functions, aws, sid)

    assert [r.address for _, r, _ in fakes.sender.sent] == ["new"]
