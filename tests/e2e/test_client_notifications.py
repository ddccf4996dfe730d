"""Notifications with the official twilio-python client against the local API: the create
answers Twilio's JSON at once, and the local API's resolving function, fed by its embedded
queue, finds the recipients - the fetch (ours, over plain HTTP: no SDK has it) shows them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.e2e.support import Credentials, LocalApi

WAIT_SECONDS = 30


def test_given_an_identity_with_bindings_when_notified_then_201_and_its_recipients_are_resolved(
    local_api: LocalApi,
    account: Credentials,
    twilio_client: Any,
    bindings: Any,
    service_sid: str,
    raw_http: Any,
):
    bindings.create(identity="alice", binding_type="apn", address="apn-alice")
    bindings.create(identity="alice", binding_type="fcm", address="fcm-alice")
    bindings.create(identity="bob", binding_type="fcm", address="fcm-bob")

    notification = twilio_client.notify.v1.services(service_sid).notifications.create(
        identity=["alice"], body="Hi"
    )

    assert notification.sid.startswith("NT")
    assert notification.account_sid == account.account_sid
    assert notification.service_sid == service_sid
    assert notification.identities == ["alice"]
    assert notification.body == "Hi"
    assert notification.priority == "high"
    url = f"{local_api.url}/v1/Services/{service_sid}/Notifications/{notification.sid}"
    auth = (account.username, account.password)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        fetched = raw_http.get(url, auth=auth, timeout=30)
        assert fetched.status_code == 200, fetched.text
        deliveries = fetched.json()["deliveries"]
        if deliveries["pending"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert deliveries["total"] == 2
    assert deliveries["pending"] is not None


def test_given_no_recipient_when_notified_then_the_client_raises_400_20001(
    twilio_client: Any, service_sid: str
):
    with pytest.raises(TwilioRestException) as caught:
        twilio_client.notify.v1.services(service_sid).notifications.create(body="Hi")

    assert (caught.value.status, caught.value.code) == (400, 20001)
