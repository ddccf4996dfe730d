"""The Credential resource through the official twilio client: create each kind, fetch, list,
update, delete; sandbox as Twilio's string; no secret in any answer; another account's 404."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.providers.material import apns_certificate_form, credential_form, service_account_json


@pytest.fixture
def credentials_api(twilio_client: Any) -> Any:
    return twilio_client.notify.v1.credentials


def test_given_an_apn_certificate_when_created_with_the_client_then_it_round_trips_without_secrets(
    credentials_api, account, local_api_url
):
    form = apns_certificate_form()

    created = credentials_api.create(
        type="apn",
        friendly_name="iOS",
        certificate=form["Certificate"],
        private_key=form["PrivateKey"],
        sandbox=True,
    )

    assert created.sid.startswith("CR")
    assert created.account_sid == account.username
    assert created.type == "apn"
    assert created.sandbox == "True"
    assert created.friendly_name == "iOS"
    assert created.url == f"{local_api_url}/v1/Credentials/{created.sid}"
    fetched = credentials_api(created.sid).fetch()
    assert (fetched.sid, fetched.type, fetched.sandbox) == (created.sid, "apn", "True")
    for secret in (form["Certificate"], form["PrivateKey"]):
        assert secret not in str(vars(created))
        assert secret not in str(vars(fetched))


@pytest.mark.parametrize("kind", ["fcm", "gcm"])
def test_given_a_service_account_then_created_and_a_legacy_key_refused_saying_why(
    credentials_api, kind
):
    created = credentials_api.create(type=kind, secret=service_account_json())

    with pytest.raises(TwilioRestException) as refused:
        credentials_api.create(type=kind, secret="AAAAbcdEfGh:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RY")

    assert created.type == kind
    assert created.sandbox == "False"
    assert refused.value.status == 400
    assert refused.value.code == 20001
    assert "Secret" in refused.value.msg


def test_given_credentials_then_list_update_and_delete_work_with_the_client(credentials_api):
    form = credential_form("sms")
    made = [
        credentials_api.create(type="sms", api_key=form["ApiKey"], secret=form["Secret"]).sid
        for _ in range(3)
    ]

    listed = [c.sid for c in credentials_api.list(page_size=2)]
    updated = credentials_api(made[0]).update(friendly_name="renamed")
    deleted = credentials_api(made[1]).delete()

    assert set(made) <= set(listed)
    assert updated.friendly_name == "renamed"
    assert deleted is True
    with pytest.raises(TwilioRestException) as gone:
        credentials_api(made[1]).fetch()
    assert gone.value.status == 404


def test_given_another_accounts_credential_then_404_and_its_services_may_not_name_it(
    credentials_api, other_client
):
    sid = credentials_api.create(type="fcm", secret=service_account_json()).sid

    with pytest.raises(TwilioRestException) as fetched:
        other_client.notify.v1.credentials(sid).fetch()
    with pytest.raises(TwilioRestException) as named:
        other_client.notify.v1.services.create(fcm_credential_sid=sid)

    assert fetched.value.status == 404
    assert named.value.status == 400
    assert "FcmCredentialSid" in named.value.msg
