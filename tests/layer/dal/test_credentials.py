"""CredentialStore against moto's DynamoDB and KMS, in ServicesTable as the template declares it:
what is stored shows no secret, opens for its own account and Credential only, and pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_api.runtime import kms_client
from local_api.standins.tls import CertificateAuthority
from notify_bindings.dal.credential_material import read_material
from notify_bindings.dal.credentials import CredentialStore
from notify_bindings.dal.sealing import BrokenSeal, Sealer
from notify_bindings.dal.services import ServiceStore
from notify_bindings.domain.credentials import Credential, CredentialMaterial, CredentialType
from notify_bindings.domain.paging import Direction, PageCursor
from notify_bindings.domain.services import Service
from notify_bindings.platform.sids import new_sid
from notify_bindings.providers.credentials import (
    LEGACY_KEY_MESSAGE,
    ApnsCertificate,
    ApnsTokenKey,
    InvalidCredential,
    ServiceAccount,
    TwilioAccount,
)
from tests.providers.material import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    KEY_ID,
    TEAM_ID,
    TOPIC,
    ec_key,
    pem,
    service_account_json,
)

TABLE = "ServicesTable"
AUTHORITY = CertificateAuthority("credential store tests")
ISSUED = AUTHORITY.issue_client(topic=TOPIC)
CERTIFICATE = CredentialMaterial(
    certificate=ISSUED.certificate_pem.decode(), private_key=ISSUED.private_key_pem.decode()
)


@pytest.fixture
def store(dynamodb: Any) -> CredentialStore:
    kms = kms_client(None)
    sealer = Sealer(kms, kms.create_key(Description="credentials")["KeyMetadata"]["Arn"])
    return CredentialStore(dynamodb, TABLE, sealer)


def credential(account_sid: str, kind: CredentialType = CredentialType.APN, **fields) -> Credential:
    now = datetime.now(UTC).replace(microsecond=0)
    return Credential(new_sid("CR"), account_sid, kind, now, now, **fields)


def opened_material(store: CredentialStore, account: str, sid: str) -> Any:
    credential = store.open(account, sid)
    assert credential is not None
    return credential.material


def test_given_a_credential_then_get_shows_it_and_open_gives_the_parsed_certificate(store):
    account = new_sid("AC")
    stored = credential(account, friendly_name="ios", sandbox=True)
    store.create(stored, CERTIFICATE)

    assert store.get(account, stored.sid) == stored
    unsealed = store.open(account, stored.sid)
    assert unsealed is not None
    assert unsealed.sandbox is True
    opened = unsealed.material
    assert isinstance(opened, ApnsCertificate)
    assert opened.topic == TOPIC


def test_given_the_item_then_no_secret_is_in_it(store, dynamodb):
    account = new_sid("AC")
    stored = credential(account)
    store.create(stored, CERTIFICATE)

    item = dynamodb.get_item(
        TableName=TABLE, Key={"AccountSid": {"S": account}, "Sid": {"S": stored.sid}}
    )["Item"]

    assert "PRIVATE KEY" not in str(item)
    assert "CERTIFICATE" not in str(item)


@pytest.mark.parametrize(
    ("kind", "material", "parsed"),
    [
        (
            CredentialType.APN,
            CredentialMaterial(
                private_key=pem(ec_key()), apn_key_id=KEY_ID, apn_team_id=TEAM_ID, apn_topic=TOPIC
            ),
            ApnsTokenKey,
        ),
        (CredentialType.FCM, CredentialMaterial(secret=service_account_json()), ServiceAccount),
        (CredentialType.GCM, CredentialMaterial(secret=service_account_json()), ServiceAccount),
        (
            CredentialType.SMS,
            CredentialMaterial(api_key=ACCOUNT_SID, secret=AUTH_TOKEN),
            TwilioAccount,
        ),
        (
            CredentialType.SMS,
            CredentialMaterial(api_key=f"{ACCOUNT_SID}:{API_KEY_SID}", secret=API_KEY_SECRET),
            TwilioAccount,
        ),
    ],
)
def test_given_each_kind_then_it_opens_as_the_providers_take_it(store, kind, material, parsed):
    account = new_sid("AC")
    stored = credential(account, kind)
    store.create(stored, material)

    assert isinstance(opened_material(store, account, stored.sid), parsed)


def test_given_an_sms_api_key_then_the_key_is_the_user_of_the_account(store):
    material = CredentialMaterial(api_key=f"{ACCOUNT_SID}:{API_KEY_SID}", secret=API_KEY_SECRET)

    opened = read_material(CredentialType.SMS, material, None)

    assert isinstance(opened, TwilioAccount)
    assert (opened.account_sid, opened.username, opened.password) == (
        ACCOUNT_SID,
        API_KEY_SID,
        API_KEY_SECRET,
    )


def test_given_another_account_then_the_credential_is_not_there(store):
    stored = credential(new_sid("AC"))
    store.create(stored, CERTIFICATE)
    other = new_sid("AC")

    assert store.get(other, stored.sid) is None
    assert store.open(other, stored.sid) is None
    assert store.delete(other, stored.sid) is False
    assert store.update(Credential(**{**_fields(stored), "account_sid": other}), None) is None


def _fields(stored: Credential) -> dict[str, Any]:
    return {name: getattr(stored, name) for name in stored.__slots__}


def test_given_sealed_material_moved_to_another_credential_then_it_does_not_open(store, dynamodb):
    account = new_sid("AC")
    first, second = credential(account), credential(account, CredentialType.FCM)
    store.create(first, CERTIFICATE)
    store.create(second, CredentialMaterial(secret=service_account_json()))
    sealed = dynamodb.get_item(
        TableName=TABLE, Key={"AccountSid": {"S": account}, "Sid": {"S": first.sid}}
    )["Item"]["Sealed"]
    dynamodb.update_item(
        TableName=TABLE,
        Key={"AccountSid": {"S": account}, "Sid": {"S": second.sid}},
        UpdateExpression="SET Sealed = :s",
        ExpressionAttributeValues={":s": sealed},
    )

    with pytest.raises(BrokenSeal):
        store.open(account, second.sid)


def test_given_an_update_then_settings_change_and_new_material_is_sealed(store):
    account = new_sid("AC")
    stored = credential(account, CredentialType.FCM, friendly_name="old")
    store.create(stored, CredentialMaterial(secret=service_account_json(project_id="one")))
    later = stored.date_updated + timedelta(seconds=5)
    changed = Credential(**{**_fields(stored), "friendly_name": None, "date_updated": later})

    updated = store.update(
        changed, CredentialMaterial(secret=service_account_json(project_id="two"))
    )

    assert updated == changed
    opened = opened_material(store, account, stored.sid)
    assert isinstance(opened, ServiceAccount)
    assert opened.project_id == "two"


def test_given_an_update_without_material_then_the_sealed_material_stays(store):
    account = new_sid("AC")
    stored = credential(account, CredentialType.FCM)
    store.create(stored, CredentialMaterial(secret=service_account_json(project_id="kept")))

    store.update(Credential(**{**_fields(stored), "friendly_name": "renamed"}), None)

    opened = opened_material(store, account, stored.sid)
    assert isinstance(opened, ServiceAccount)
    assert opened.project_id == "kept"


def test_given_a_delete_then_it_is_gone_and_a_second_delete_finds_nothing(store):
    account = new_sid("AC")
    stored = credential(account)
    store.create(stored, CERTIFICATE)

    assert store.delete(account, stored.sid) is True
    assert store.get(account, stored.sid) is None
    assert store.delete(account, stored.sid) is False


def test_given_credentials_and_services_of_an_account_then_a_list_pages_credentials_only(
    store, dynamodb
):
    account = new_sid("AC")
    now = datetime.now(UTC)
    ServiceStore(dynamodb, TABLE).create(Service(new_sid("IS"), account, now, now))
    made = [credential(account, CredentialType.FCM) for _ in range(5)]
    for each in made:
        store.create(each, CredentialMaterial(secret=service_account_json()))

    first = store.list_page(account, None, 3)
    rest = store.list_page(account, PageCursor(Direction.AFTER, first.items[-1].sid), 3)

    assert [c.sid for c in first.items + rest.items] == sorted(c.sid for c in made)
    assert first.more_after
    assert not rest.more_after


@pytest.mark.parametrize(
    ("kind", "material", "parameter"),
    [
        (CredentialType.APN, CredentialMaterial(), "Certificate"),
        (CredentialType.APN, CredentialMaterial(certificate=CERTIFICATE.certificate), "PrivateKey"),
        (
            CredentialType.APN,
            CredentialMaterial(private_key=pem(ec_key()), apn_key_id=KEY_ID, apn_topic=TOPIC),
            "ApnTeamId",
        ),
        (
            CredentialType.APN,
            CredentialMaterial(
                private_key=pem(ec_key()), apn_key_id="short", apn_team_id=TEAM_ID, apn_topic=TOPIC
            ),
            "ApnKeyId",
        ),
        (CredentialType.FCM, CredentialMaterial(), "Secret"),
        (CredentialType.SMS, CredentialMaterial(secret=AUTH_TOKEN), "ApiKey"),
        (CredentialType.SMS, CredentialMaterial(api_key="ACnope", secret=AUTH_TOKEN), "ApiKey"),
        (CredentialType.SMS, CredentialMaterial(api_key=ACCOUNT_SID, secret="short"), "Secret"),
    ],
)
def test_given_incomplete_or_wrong_material_then_the_parameter_is_named(kind, material, parameter):
    with pytest.raises(InvalidCredential) as raised:
        read_material(kind, material, None)

    assert raised.value.parameter == parameter


@pytest.mark.parametrize("kind", [CredentialType.FCM, CredentialType.GCM])
def test_given_a_legacy_server_key_then_it_is_refused_saying_why(kind):
    legacy = "AAAAbcdEfGh:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx7Jb3yuXvjqCsrbFm4i7yvUlfbvXDu"

    with pytest.raises(InvalidCredential) as raised:
        read_material(kind, CredentialMaterial(secret=legacy), None)

    assert (raised.value.parameter, raised.value.message) == ("Secret", LEGACY_KEY_MESSAGE)


def test_given_material_then_its_repr_names_fields_not_values():
    assert repr(CERTIFICATE) == "CredentialMaterial(given=['certificate', 'private_key'])"
