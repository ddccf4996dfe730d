"""A notification delivered end to end through the local pipeline: created with the official
twilio-python client, resolved and delivered by the local API's functions through the real
APNs, FCM and Twilio Messages clients to the stand-ins `make run` starts, a dead token's
binding removed, and the delivery callbacks posted signed to a receiver on loopback."""

from __future__ import annotations

import json
import secrets
from typing import Any

from twilio.request_validator import RequestValidator

from tests.e2e.delivering import (
    Receiver,
    sending_service,
    stand_in_deliveries,
    wait_for_deliveries,
)
from tests.e2e.support import Credentials, LocalApi, StandIns


def test_given_apn_fcm_and_sms_bindings_when_notified_then_each_provider_gets_it_once_and_a_signed_callback_says_so(  # noqa: E501
    local_api: LocalApi,
    account: Credentials,
    twilio_client: Any,
    raw_http: Any,
    standins: StandIns,
    receiver: Receiver,
) -> None:
    auth = (account.username, account.password)
    notify = twilio_client.notify.v1
    service_sid = sending_service(
        local_api, account, twilio_client, raw_http, standins, "e2e delivery"
    )
    identity = f"alice-{secrets.token_hex(4)}"
    apn_token, dead_token = secrets.token_hex(32), "dead" + secrets.token_hex(30)
    fcm_token = "fcm" + secrets.token_hex(40)
    phone = "+1555" + str(secrets.randbelow(10**7)).zfill(7)
    bindings = notify.services(service_sid).bindings
    for binding_type, address in (
        ("apn", apn_token),
        ("apn", dead_token),
        ("fcm", fcm_token),
        ("sms", phone),
    ):
        bindings.create(identity=identity, binding_type=binding_type, address=address)

    notification = notify.services(service_sid).notifications.create(
        identity=[identity], body="Hi", title="Hello", delivery_callback_url=receiver.url
    )

    url = f"{local_api.url}/v1/Services/{service_sid}/Notifications/{notification.sid}"
    assert wait_for_deliveries(raw_http, url, auth) == {
        "total": 4,
        "sent": 3,
        "failed": 1,
        "pending": 0,
        "dead_bindings_removed": 1,
    }
    to_apns = [
        delivery
        for delivery in stand_in_deliveries(raw_http, standins.apns_url, standins.apns_ca_file)
        if delivery["device_token"] in (apn_token, dead_token)
    ]
    assert [(d["device_token"], d["topic"]) for d in to_apns] == [(apn_token, standins.apns_topic)]
    assert to_apns[0]["payload"]["aps"]["alert"] == {"title": "Hello", "body": "Hi"}
    to_fcm = [
        delivery
        for delivery in stand_in_deliveries(raw_http, standins.fcm_url)
        if delivery.get("token") == fcm_token
    ]
    assert len(to_fcm) == 1
    assert to_fcm[0]["message"]["data"]["twi_body"] == "Hi"
    to_twilio = [
        delivery
        for delivery in stand_in_deliveries(raw_http, standins.twilio_url)
        if delivery["to"] == phone
    ]
    assert [(d["account_sid"], d["body"]) for d in to_twilio] == [(account.account_sid, "Hi")]
    remaining = bindings.list(identity=[identity])
    assert sorted(binding.address for binding in remaining) == sorted([apn_token, fcm_token, phone])
    # The callbacks: signed with the account's auth token, together every delivery once.
    validator = RequestValidator(account.password)
    assert receiver.received
    assert all(
        validator.validate(receiver.url, form, signature) for signature, form in receiver.received
    )
    states = [json.loads(state) for _, form in receiver.received for state in form["DeliveryState"]]
    assert sorted(state["status"] for state in states) == ["FAILED", "SENT", "SENT", "SENT"]
    (failed,) = [state for state in states if state["status"] == "FAILED"]
    assert failed["binding_type"] == "apn"
    assert [form["IsFinal"] for _, form in receiver.received][-1] == ["true"]
    assert all(address not in json.dumps(states) for address in (apn_token, dead_token, phone))
    notify.services(service_sid).delete()
