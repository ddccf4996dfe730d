"""The Credential functions: Twilio's JSON without secrets, each kind checked, 400 naming the
parameter, one account's Credentials invisible to another, and update and delete."""

from __future__ import annotations

import pytest

from notify_bindings import dependencies
from notify_bindings.providers.credentials import (
    LEGACY_KEY_MESSAGE,
    ApnsCertificate,
    ApnsTokenKey,
    ServiceAccount,
    TwilioAccount,
)
from tests.conftest import new_account
from tests.providers.material import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    apns_certificate_form,
    credential_form,
    service_account_json,
)

CREATE = "CreateCredentialFunction"
LIST = "ListCredentialsFunction"
FETCH = "FetchCredentialFunction"
UPDATE = "UpdateCredentialFunction"
DELETE = "DeleteCredentialFunction"
CREDENTIALS = "/v1/Credentials"
SECRET_FIELDS = ("Certificate", "PrivateKey", "ApiKey", "Secret")
TWILIO_FIELDS = {
    "sid",
    "account_sid",
    "friendly_name",
    "type",
    "sandbox",
    "date_created",
    "date_updated",
    "url",
}


def path(sid: str) -> str:
    return f"{CREDENTIALS}/{sid}"


def opened(account_sid: str, sid: str):
    """What a delivering function would open (the tests' process may decrypt)."""
    from notify_bindings.dal.credentials import CredentialStore

    store = CredentialStore(
        dependencies.dynamodb(), dependencies.settings().services_table, dependencies.sealer()
    )
    credential = store.open(account_sid, sid)
    return None if credential is None else credential.material


@pytest.mark.parametrize(
    ("kind", "parsed"),
    [
        ("apn", ApnsCertificate),
        ("apn-token", ApnsTokenKey),
        ("fcm", ServiceAccount),
        ("gcm", ServiceAccount),
        ("sms", TwilioAccount),
    ],
)
def test_given_each_kind_when_created_then_201_twilios_fields_and_it_opens(
    invoke, account, kind, parsed
):
    form = {**credential_form(kind), "FriendlyName": f"my {kind}"}

    reply = invoke(CREATE, CREDENTIALS, form=form)

    assert reply.status == 201, reply.body
    body = reply.json()
    assert set(body) == TWILIO_FIELDS
    assert body["sid"].startswith("CR")
    assert body["type"] == form["Type"]
    assert body["friendly_name"] == f"my {kind}"
    assert body["account_sid"] == account.sid
    assert body["url"] == f"https://127.0.0.1{CREDENTIALS}/{body['sid']}"  # absolute
    for field in SECRET_FIELDS:
        if field in form:
            assert form[field] not in reply.body
    assert isinstance(opened(account.sid, body["sid"]), parsed)
    assert invoke(FETCH, path(body["sid"])).json() == body


@pytest.mark.parametrize(("sandbox", "shown"), [("true", "True"), ("false", "False")])
def test_given_sandbox_as_twilio_python_sends_it_then_it_is_a_string_as_twilio_returns_it(
    invoke, sandbox, shown
):
    reply = invoke(CREATE, CREDENTIALS, form={**credential_form("apn"), "Sandbox": sandbox})

    assert reply.json()["sandbox"] == shown


def test_given_a_non_apn_credential_then_sandbox_is_false(invoke):
    assert invoke(CREATE, CREDENTIALS, form=credential_form("fcm")).json()["sandbox"] == "False"


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({}, "Type"),
        ({"Type": "voip"}, "Type"),
        ({"Type": "apn"}, "Certificate"),
        ({"Type": "apn", "Certificate": apns_certificate_form()["Certificate"]}, "PrivateKey"),
        (
            {
                "Type": "apn",
                "Certificate": apns_certificate_form()["Certificate"],
                "PrivateKey": apns_certificate_form()["PrivateKey"],  # another certificate's
            },
            "PrivateKey",
        ),
        ({**credential_form("apn-token"), "ApnTeamId": "x"}, "ApnTeamId"),
        ({"Type": "fcm"}, "Secret"),
        ({"Type": "fcm", "Secret": "{not json"}, "Secret"),
        ({"Type": "sms", "ApiKey": "SK" + "0" * 32, "Secret": "0" * 32}, "ApiKey"),
        ({"Type": "sms", "ApiKey": ACCOUNT_SID}, "Secret"),
        ({**credential_form("fcm"), "FriendlyName": "x" * 65}, "FriendlyName"),
        ({**credential_form("apn"), "Sandbox": "maybe"}, "Sandbox"),
    ],
)
def test_given_bad_input_then_400_20001_naming_the_parameter_and_nothing_stored(
    invoke, form, named
):
    account = new_account()

    reply = invoke(CREATE, CREDENTIALS, form=form, account=account.sid)

    assert reply.status == 400, reply.body
    assert reply.json()["code"] == 20001
    assert named in reply.json()["message"]
    assert invoke(LIST, CREDENTIALS, account=account.sid).json()["credentials"] == []


@pytest.mark.parametrize("kind", ["fcm", "gcm"])
def test_given_a_legacy_server_key_then_400_saying_why(invoke, kind):
    legacy = "AAAAbcdEfGh:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx7Jb3yuXvjqCsrbFm4i7yvUlfbvXDu"

    reply = invoke(CREATE, CREDENTIALS, form={"Type": kind, "Secret": legacy})

    assert reply.status == 400
    assert reply.json()["code"] == 20001
    assert LEGACY_KEY_MESSAGE in reply.json()["message"]
    assert legacy not in reply.body


def test_given_an_sms_api_key_then_it_is_the_account_and_key_sids_with_the_key_secret(
    invoke, account
):
    form = {"Type": "sms", "ApiKey": f"{ACCOUNT_SID}:{API_KEY_SID}", "Secret": API_KEY_SECRET}

    sid = invoke(CREATE, CREDENTIALS, form=form).json()["sid"]

    twilio = opened(account.sid, sid)
    assert isinstance(twilio, TwilioAccount)
    assert (twilio.account_sid, twilio.username) == (ACCOUNT_SID, API_KEY_SID)


def test_given_another_account_then_its_credential_is_404_everywhere(invoke):
    sid = invoke(CREATE, CREDENTIALS, form=credential_form("sms")).json()["sid"]
    other = new_account().sid

    assert invoke(FETCH, path(sid), account=other).status == 404
    assert invoke(UPDATE, path(sid), form={"FriendlyName": "x"}, account=other).status == 404
    assert invoke(DELETE, path(sid), account=other).status == 404
    assert invoke(LIST, CREDENTIALS, account=other).json()["credentials"] == []
    assert invoke(FETCH, path(sid)).status == 200


def test_given_credentials_then_the_list_pages_through_them_and_no_service(invoke):
    account = new_account().sid
    from tests.conftest import new_service

    new_service(account)
    made = [
        invoke(CREATE, CREDENTIALS, form=credential_form("sms"), account=account).json()["sid"]
        for _ in range(3)
    ]

    first = invoke(LIST, CREDENTIALS, query={"PageSize": "2"}, account=account).json()
    token = first["meta"]["next_page_url"].split("PageToken=")[1].split("&")[0]
    second = invoke(
        LIST, CREDENTIALS, query={"PageSize": "2", "PageToken": token}, account=account
    ).json()

    assert first["meta"]["key"] == "credentials"
    assert [c["sid"] for c in first["credentials"] + second["credentials"]] == made
    assert second["meta"]["next_page_url"] is None


def test_given_an_update_of_the_name_then_only_it_changes_and_the_secrets_stay(invoke, account):
    created = invoke(CREATE, CREDENTIALS, form=credential_form("fcm")).json()

    updated = invoke(UPDATE, path(created["sid"]), form={"FriendlyName": "renamed"})

    assert updated.status == 200
    assert updated.json()["friendly_name"] == "renamed"
    assert updated.json()["date_created"] == created["date_created"]
    assert isinstance(opened(account.sid, created["sid"]), ServiceAccount)


def test_given_new_material_then_it_is_checked_and_sealed_anew(invoke, account):
    sid = invoke(CREATE, CREDENTIALS, form=credential_form("fcm")).json()["sid"]

    replaced = invoke(
        UPDATE, path(sid), form={"Secret": service_account_json(project_id="another-project")}
    )
    refused = invoke(UPDATE, path(sid), form={"Secret": "not json"})

    assert replaced.status == 200
    assert refused.status == 400
    assert "Secret" in refused.json()["message"]
    service_account = opened(account.sid, sid)
    assert isinstance(service_account, ServiceAccount)
    assert service_account.project_id == "another-project"


def test_given_part_of_a_certificate_pair_then_400_asking_for_both(invoke):
    sid = invoke(CREATE, CREDENTIALS, form=credential_form("apn")).json()["sid"]

    reply = invoke(UPDATE, path(sid), form={"PrivateKey": apns_certificate_form()["PrivateKey"]})

    assert reply.status == 400
    assert "Certificate" in reply.json()["message"]
    assert "give them all again" in reply.json()["message"]


def test_given_sandbox_alone_then_it_changes_without_the_certificate(invoke):
    sid = invoke(CREATE, CREDENTIALS, form=credential_form("apn")).json()["sid"]

    reply = invoke(UPDATE, path(sid), form={"Sandbox": "true"})

    assert reply.status == 200
    assert reply.json()["sandbox"] == "True"


def test_given_a_delete_then_204_and_then_404(invoke, account):
    sid = invoke(CREATE, CREDENTIALS, form=credential_form("sms")).json()["sid"]

    assert invoke(DELETE, path(sid)).status == 204
    assert invoke(FETCH, path(sid)).status == 404
    assert invoke(DELETE, path(sid)).status == 404
    assert opened(account.sid, sid) is None


@pytest.mark.parametrize("sid", ["CR123", "IS" + "0" * 32, "..", "CR" + "g" * 32])
def test_given_a_malformed_sid_then_404(invoke, sid):
    assert invoke(FETCH, path(sid)).status == 404
    assert invoke(DELETE, path(sid)).status == 404
