"""Notifications delivered end to end while things fail: each stand-in refusing, dropping or
delaying a share of its requests (its fault plan, seeded), FCM's token endpoint failing, the
callback receiver failing, and a DeliveryBatch message delivered twice by SQS. Nothing is
lost, nothing is sent twice but an acceptance lost in transit, and the counts add up exactly.

The stand-ins draw one random number a request for a fraction of faults, in the order the
requests come; the delivering function sends one recipient after another (the local API runs
one invocation of a function at a time), so a seed fixes how many requests of each stand-in
fault, and `outcome` below replays the sender's retries against the same draws."""

from __future__ import annotations

import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from local_api.runtime import sqs_client
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import DeliveryBatch, Recipient, ResolutionTask
from notify_bindings.operations import callbacks, sending
from tests.e2e.delivering import (
    Receiver,
    sending_service,
    stand_in_deliveries,
    wait_for_deliveries,
)
from tests.e2e.support import Credentials, LocalApi, StandIns, delete_quietly

TAG = "faults"
CHANNELS = ("apn", "fcm", "sms")
# Twilio's code for each channel's provider being unavailable (providers/outcomes.py).
UNAVAILABLE = {"apn": 52144, "fcm": 52110, "sms": 20503}
DRAIN_SECONDS = 30


@dataclass(frozen=True)
class Outcome:
    """What the design promises of one stand-in's share: bindings sent, bindings failed (each
    after MAX_ATTEMPTS refusals), and the faults the stand-in injected on the way."""

    sent: int
    failed: int
    faults: int


def outcome(seed: int, fraction: float, bindings: int) -> Outcome:
    """The sender's retries (sending.MAX_ATTEMPTS attempts a binding) against the stand-in's
    seeded draws: one a request, a fault when below `fraction`."""
    draw = random.Random(seed).random  # nosec B311 - the stand-in's own draws
    sent = failed = faults = 0
    for _ in range(bindings):
        for _ in range(sending.MAX_ATTEMPTS):
            if draw() < fraction:
                faults += 1
                continue
            sent += 1
            break
        else:
            failed += 1
    return Outcome(sent, failed, faults)


class Faults:
    """The stand-ins' control API: fault plans set, the faults they injected, what they
    accepted for a set of addresses."""

    def __init__(self, raw_http: Any, standins: StandIns) -> None:
        self._http = raw_http
        self._standins = standins
        self.urls = {
            "apn": standins.apns_url,
            "fcm": standins.fcm_url,
            "sms": standins.twilio_url,
        }

    def _verify(self, channel: str) -> str | bool:
        return self._standins.apns_ca_file if channel == "apn" else True

    def plan(self, channel: str, **plan: Any) -> None:
        answer = self._http.post(
            f"{self.urls[channel]}/faults", json=plan, timeout=30, verify=self._verify(channel)
        )
        assert answer.status_code == 204, answer.text

    def injected(self, channel: str, target: str = "send") -> dict[str, int]:
        answer = self._http.get(
            f"{self.urls[channel]}/faults", timeout=30, verify=self._verify(channel)
        )
        assert answer.status_code == 200, answer.text
        (plan,) = [plan for plan in answer.json()["plans"] if plan["target"] == target]
        injected: dict[str, int] = plan["injected"]
        return injected

    def clear(self) -> None:
        for channel, url in self.urls.items():
            self._http.delete(f"{url}/faults", timeout=30, verify=self._verify(channel))

    def accepted(self, addresses: dict[str, list[str]]) -> dict[str, Counter[str]]:
        """By channel, how many times each of `addresses` was accepted."""
        field = {"apn": "device_token", "fcm": "token", "sms": "to"}
        counted = {}
        for channel, url in self.urls.items():
            ca_file = self._standins.apns_ca_file if channel == "apn" else None
            ours = set(addresses.get(channel, []))
            counted[channel] = Counter(
                delivery.get(field[channel])
                for delivery in stand_in_deliveries(self._http, url, ca_file)
                if delivery.get(field[channel]) in ours
            )
        return counted


@pytest.fixture
def faults(raw_http: Any, standins: StandIns, local_api: LocalApi) -> Iterator[Faults]:
    """The stand-ins' faults, cleared afterwards (the session's other tests share them). It
    first waits (a while at most) for the notifications of the tests before to be delivered:
    their requests would take the stand-ins' seeded draws."""
    assert local_api.sqs_url is not None, "the local API did not announce its SQS endpoint"
    sqs = sqs_client(local_api.sqs_url)
    for queue in ("ResolveQueue", "DeliveryQueue"):
        drain(sqs, sqs.get_queue_url(QueueName=queue)["QueueUrl"])
    controls = Faults(raw_http, standins)
    controls.clear()
    try:
        yield controls
    finally:
        controls.clear()


@dataclass(frozen=True)
class Sending:
    """A Service that sends through the stand-ins, and what the test needs to use it."""

    local_api: LocalApi
    account: Credentials
    client: Any
    raw_http: Any
    sid: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.account.username, self.account.password)

    def bind(self, apn: int = 0, fcm: int = 0, sms: int = 0) -> dict[str, list[str]]:
        """That many bindings of each channel, tagged TAG, each of an identity of its own;
        their addresses by channel."""
        addresses = {
            "apn": [secrets.token_hex(32) for _ in range(apn)],
            "fcm": ["fcm" + secrets.token_hex(40) for _ in range(fcm)],
            "sms": ["+1555" + str(secrets.randbelow(10**7)).zfill(7) for _ in range(sms)],
        }
        bindings = self.client.notify.v1.services(self.sid).bindings
        for channel, some in addresses.items():
            for address in some:
                bindings.create(
                    identity=f"user-{secrets.token_hex(4)}",
                    binding_type=channel,
                    address=address,
                    tag=[TAG],
                )
        return addresses

    def notify(self, **parameters: Any) -> str:
        """A notification to the tagged bindings; its SID."""
        created = self.client.notify.v1.services(self.sid).notifications.create(
            tag=[TAG], body="Hi", title="Hello", **parameters
        )
        return str(created.sid)

    def deliveries(self, notification_sid: str) -> dict[str, Any]:
        """The notification's `deliveries` once nothing is pending."""
        url = f"{self.local_api.url}/v1/Services/{self.sid}/Notifications/{notification_sid}"
        return wait_for_deliveries(self.raw_http, url, self.auth)


@pytest.fixture
def service(
    local_api: LocalApi,
    account: Credentials,
    twilio_client: Any,
    raw_http: Any,
    standins: StandIns,
    request: pytest.FixtureRequest,
) -> Iterator[Sending]:
    name = f"e2e {request.node.name}"[:64]
    sid = sending_service(local_api, account, twilio_client, raw_http, standins, name)
    yield Sending(local_api, account, twilio_client, raw_http, sid)
    delete_quietly(twilio_client, sid)


def states(receiver: Receiver, auth_token: str) -> list[dict[str, Any]]:
    """Every DeliveryState the receiver accepted, each callback's signature checked."""
    validator = RequestValidator(auth_token)
    found = []
    for signature, form in receiver.received:
        assert validator.validate(receiver.url, form, signature)
        found += [json.loads(state) for state in form["DeliveryState"]]
    return found


def test_given_each_provider_refusing_a_third_of_requests_then_retries_deliver_each_binding_once_and_the_rest_count_failed(  # noqa: E501
    service: Sending, faults: Faults, receiver: Receiver
) -> None:
    bindings, fraction = 6, 0.3
    seeds = {"apn": 93, "fcm": 0, "sms": 1}  # one APNs binding is refused MAX_ATTEMPTS times
    expected = {channel: outcome(seed, fraction, bindings) for channel, seed in seeds.items()}
    assert sum(one.failed for one in expected.values()) >= 1  # the seeds test both promises
    addresses = service.bind(apn=bindings, fcm=bindings, sms=bindings)
    for channel, seed in seeds.items():
        faults.plan(channel, fail_fraction=fraction, fail_status=503, retry_after=0, seed=seed)

    sid = service.notify(delivery_callback_url=receiver.url)

    sent = sum(one.sent for one in expected.values())
    failed = sum(one.failed for one in expected.values())
    assert service.deliveries(sid) == {
        "total": 3 * bindings,
        "sent": sent,
        "failed": failed,
        "pending": 0,
        "dead_bindings_removed": 0,
    }
    accepted = faults.accepted(addresses)
    for channel in CHANNELS:
        # A refused request is not accepted: no binding twice, the failed ones not at all.
        assert sorted(accepted[channel].values()) == [1] * expected[channel].sent, channel
        assert faults.injected(channel) == {
            "fail": expected[channel].faults,
            "drop": 0,
            "delay": 0,
            "timeout": 0,
        }
    receiver.wait_for_final()
    reported = states(receiver, service.account.password)
    assert len(reported) == 3 * bindings
    assert sorted(
        (state["binding_type"], state["error_code"])
        for state in reported
        if state["status"] == "FAILED"
    ) == sorted(
        (channel, UNAVAILABLE[channel])
        for channel in CHANNELS
        for _ in range(expected[channel].failed)
    )


def test_given_each_provider_dropping_connections_after_accepting_then_nothing_is_missing_and_the_only_duplicates_are_the_drops(  # noqa: E501
    service: Sending, faults: Faults
) -> None:
    bindings, fraction = 5, 0.3
    seeds = {"apn": 2, "fcm": 1, "sms": 0}
    expected = {channel: outcome(seed, fraction, bindings) for channel, seed in seeds.items()}
    addresses = service.bind(apn=bindings, fcm=bindings, sms=bindings)
    for channel, seed in seeds.items():
        faults.plan(channel, drop_fraction=fraction, seed=seed)

    sid = service.notify()

    deliveries = service.deliveries(sid)
    assert deliveries["sent"] + deliveries["failed"] == deliveries["total"] == 3 * bindings
    assert deliveries["pending"] == 0
    assert deliveries["sent"] == sum(one.sent for one in expected.values())
    accepted = faults.accepted(addresses)
    for channel in CHANNELS:
        drops = faults.injected(channel)["drop"]
        assert drops == expected[channel].faults, channel
        assert drops > 0, channel  # the seeds drop something everywhere
        counts = accepted[channel]
        # Nothing missing: every binding reached its provider at least once ...
        assert sorted(counts) == sorted(addresses[channel]), channel
        # ... and each drop was an acceptance lost in transit, sent again: the only duplicates.
        duplicates = sum(counts.values()) - len(counts)
        assert duplicates <= drops, channel
        assert sum(counts.values()) == drops + expected[channel].sent, channel


def test_given_each_provider_answering_late_then_each_binding_is_delivered_once(
    service: Sending, faults: Faults
) -> None:
    addresses = service.bind(apn=2, fcm=2, sms=2)
    for channel in CHANNELS:
        faults.plan(channel, delay_next=1, delay_seconds=1.5)

    started = time.monotonic()
    sid = service.notify()

    assert service.deliveries(sid) == {
        "total": 6,
        "sent": 6,
        "failed": 0,
        "pending": 0,
        "dead_bindings_removed": 0,
    }
    assert time.monotonic() - started >= 3 * 1.5  # each provider was slow once, in turn
    accepted = faults.accepted(addresses)
    for channel in CHANNELS:
        assert accepted[channel] == Counter(dict.fromkeys(addresses[channel], 1)), channel
        assert faults.injected(channel) == {"fail": 0, "drop": 0, "delay": 1, "timeout": 0}


def test_given_fcms_token_endpoint_failing_once_then_a_token_is_fetched_again_and_delivery_succeeds(
    service: Sending, faults: Faults, raw_http: Any, standins: StandIns
) -> None:
    addresses = service.bind(fcm=2)
    # The access token the delivering function holds is revoked, so that it must fetch one.
    assert raw_http.delete(f"{standins.fcm_url}/tokens", timeout=30).status_code == 204
    faults.plan("fcm", target="token", fail_next=1, fail_status=503, retry_after=0)

    sid = service.notify()

    assert service.deliveries(sid) == {
        "total": 2,
        "sent": 2,
        "failed": 0,
        "pending": 0,
        "dead_bindings_removed": 0,
    }
    assert faults.injected("fcm", target="token")["fail"] == 1
    assert faults.accepted(addresses)["fcm"] == Counter(dict.fromkeys(addresses["fcm"], 1))


def test_given_the_callback_receiver_failing_once_then_the_same_signed_callback_arrives_again(
    service: Sending, receiver: Receiver
) -> None:
    service.bind(sms=1)
    receiver.failing = 1

    sid = service.notify(delivery_callback_url=receiver.url)

    assert service.deliveries(sid)["sent"] == 1
    attempts = receiver.wait_for_final()
    assert [attempt.status for attempt in attempts] == [503, 204]
    assert attempts[0].form == attempts[1].form
    assert attempts[1].form["SequenceId"] == ["0"]
    assert attempts[1].form["IsFinal"] == ["true"]
    (state,) = [json.loads(state) for state in attempts[1].form["DeliveryState"]]
    assert (state["binding_type"], state["status"]) == ("sms", "SENT")
    validator = RequestValidator(service.account.password)
    assert all(validator.validate(receiver.url, a.form, a.signature) for a in attempts)


def test_given_the_callback_receiver_failing_every_attempt_then_it_is_tried_max_attempts_times_and_delivery_still_counts(  # noqa: E501
    service: Sending, receiver: Receiver
) -> None:
    service.bind(sms=1)
    receiver.failing = callbacks.MAX_ATTEMPTS

    first = service.notify(delivery_callback_url=receiver.url)
    assert service.deliveries(first)["sent"] == 1
    # The function delivers one batch at a time: once the next notification's callback is
    # accepted, the first one's reporting is over.
    second = service.notify(delivery_callback_url=receiver.url)
    attempts = receiver.wait_for_final()

    assert service.deliveries(second)["sent"] == 1
    by_notification = [(a.form["NotificationSid"][0], a.status) for a in attempts]
    assert by_notification == [(first, 503)] * callbacks.MAX_ATTEMPTS + [(second, 204)]
    assert service.deliveries(first) == {
        "total": 1,
        "sent": 1,
        "failed": 0,
        "pending": 0,
        "dead_bindings_removed": 0,
    }


def test_given_a_delivery_batch_delivered_again_by_sqs_then_nothing_is_sent_twice(
    service: Sending, faults: Faults, local_api: LocalApi, receiver: Receiver
) -> None:
    addresses = service.bind(apn=1, fcm=1, sms=1)
    sid = service.notify(delivery_callback_url=receiver.url)
    done = service.deliveries(sid)
    assert done == {"total": 3, "sent": 3, "failed": 0, "pending": 0, "dead_bindings_removed": 0}
    before = faults.accepted(addresses)
    callbacks_before = len(receiver.wait_for_final())

    assert local_api.sqs_url is not None, "the local API did not announce its SQS endpoint"
    sqs = sqs_client(local_api.sqs_url)
    queue_url = sqs.get_queue_url(QueueName="DeliveryQueue")["QueueUrl"]
    for batch in delivery_batches(service, sid):
        sqs.send_message(QueueUrl=queue_url, MessageBody=batch.to_message())
    drained = drain(sqs, queue_url)

    assert faults.accepted(addresses) == before
    assert all(count == 1 for counts in before.values() for count in counts.values())
    assert service.deliveries(sid) == done
    assert len(receiver.attempts) == callbacks_before
    assert drained, "the delivery queue still holds the copies: they were not recognised"


def test_given_a_resolution_task_delivered_again_by_sqs_then_nothing_is_counted_or_sent_twice(
    service: Sending, faults: Faults, local_api: LocalApi
) -> None:
    addresses = service.bind(apn=1, fcm=1, sms=1)
    sid = service.notify()
    done = service.deliveries(sid)
    assert done == {"total": 3, "sent": 3, "failed": 0, "pending": 0, "dead_bindings_removed": 0}
    before = faults.accepted(addresses)

    assert local_api.sqs_url is not None, "the local API did not announce its SQS endpoint"
    sqs = sqs_client(local_api.sqs_url)
    task = ResolutionTask(service.account.account_sid, service.sid, sid)
    sqs.send_message(
        QueueUrl=sqs.get_queue_url(QueueName="ResolveQueue")["QueueUrl"],
        MessageBody=task.to_message(),
    )
    drained = all(
        drain(sqs, sqs.get_queue_url(QueueName=queue)["QueueUrl"])
        for queue in ("ResolveQueue", "DeliveryQueue")
    )

    assert faults.accepted(addresses) == before
    assert service.deliveries(sid) == done
    assert drained, "the queues still hold the task or its batches: they were not recognised"


def delivery_batches(service: Sending, notification_sid: str) -> list[DeliveryBatch]:
    """The notification's DeliveryBatch messages as resolution queued them: its few recipients
    in one batch, numbered 0, grouped by channel in the channels' order, each recipient with
    the Service's credential of its type."""
    fetched = service.client.notify.v1.services(service.sid).fetch()
    credential = {
        BindingType.APN: fetched.apn_credential_sid,
        BindingType.FCM: fetched.fcm_credential_sid,
        BindingType.SMS: service.raw_http.get(
            f"{service.local_api.url}/v1/Services/{service.sid}", auth=service.auth, timeout=30
        ).json()["sms_credential_sid"],
    }
    by_channel: dict[BindingType, list[Recipient]] = {}
    for binding in service.client.notify.v1.services(service.sid).bindings.list(tag=[TAG]):
        kind = BindingType(binding.binding_type)
        by_channel.setdefault(kind, []).append(
            Recipient(
                kind,
                binding.address,
                binding.sid,
                binding.credential_sid or credential[kind],
                binding.notification_protocol_version,
            )
        )
    members = tuple(r for _, channel in sorted(by_channel.items()) for r in channel)
    return [DeliveryBatch(service.account.account_sid, service.sid, notification_sid, 0, members)]


def drain(sqs: Any, queue_url: str) -> bool:
    """Whether the queue came to hold no message, visible or in flight (each taken and
    deleted), within DRAIN_SECONDS."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
        if all(attributes["Attributes"][name] == "0" for name in names):
            return True
        time.sleep(0.2)
    return False
