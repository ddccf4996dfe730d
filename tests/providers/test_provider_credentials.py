"""Credential material: what each parser accepts, what it refuses and with which parameter
named, and that no secret reaches an exception or a repr."""

from __future__ import annotations

import datetime
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from local_api.standins.tls import CertificateAuthority
from notify_bindings.providers.credentials import (
    LEGACY_KEY_MESSAGE,
    InvalidCredential,
    parse_apns_certificate,
    parse_apns_token_key,
    parse_service_account,
    parse_twilio_account,
)
from tests.providers.material import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    CLIENT_EMAIL,
    KEY_ID,
    PROJECT,
    TEAM_ID,
    TOPIC,
    ec_key,
    pem,
    rsa_key,
    service_account_json,
)

AUTHORITY = CertificateAuthority("test CA")
ISSUED = AUTHORITY.issue_client(topic=TOPIC)
DEVELOPMENT = AUTHORITY.issue_client(
    topic=TOPIC, common_name=f"Apple Development IOS Push Services: {TOPIC}"
)
PRODUCTION = AUTHORITY.issue_client(
    topic=TOPIC, common_name=f"Apple Production IOS Push Services: {TOPIC}"
)
NO_UID = AUTHORITY.issue_client(topic=None, common_name="Some client")
OTHER = AUTHORITY.issue_client(topic=TOPIC)
LEGACY_FCM_KEY = "AAAAbcdEfGh:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx7Jb3yuXvjqCsrbFm4i7yvUlfbvXDu"
GCM_API_KEY = "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"


def secret_fragments(text: str) -> list[str]:
    """Lines of secret material long enough that finding one anywhere is a leak."""
    return [line for line in text.splitlines() if len(line) >= 16 and "-----" not in line]


def assert_nothing_leaks(error: InvalidCredential, *secrets: str | bytes) -> None:
    shown = " ".join([str(error), repr(error), error.message, *map(str, error.args)])
    for secret in secrets:
        text = secret.decode() if isinstance(secret, bytes) else secret
        fragments = [*secret_fragments(text), text.strip()]
        for fragment in (fragment for fragment in fragments if len(fragment) >= 6):
            assert fragment not in shown, "secret material in the exception"
    # Nothing chained either: a decoding error keeps the whole document it read.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


# --- APNs certificates ---------------------------------------------------------------------


def test_given_a_certificate_and_its_key_then_the_topic_comes_from_the_subject_uid():
    credential = parse_apns_certificate(ISSUED.certificate_pem, ISSUED.private_key_pem)

    assert credential.topic == TOPIC
    assert credential.environments == {"sandbox", "production"}  # "Apple Push Services"
    assert b"BEGIN CERTIFICATE" in credential.certificate_pem
    assert b"BEGIN PRIVATE KEY" in credential.private_key_pem


def test_given_text_around_the_pem_blocks_and_an_explicit_topic_then_both_are_used():
    wrapped_certificate = b"Bag Attributes\n  friendlyName: x\n" + ISSUED.certificate_pem + b"\n"
    wrapped_key = "Key Attributes: <No Attributes>\n" + ISSUED.private_key_pem.decode()

    credential = parse_apns_certificate(
        wrapped_certificate.decode(), wrapped_key, topic="com.example.app.voip"
    )

    assert credential.topic == "com.example.app.voip"


def test_given_a_certificate_without_uid_then_it_has_no_topic_of_its_own():
    assert parse_apns_certificate(NO_UID.certificate_pem, NO_UID.private_key_pem).topic is None


def test_given_a_traditional_rsa_key_then_it_is_accepted():
    key = serialization.load_pem_private_key(ISSUED.private_key_pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    traditional = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert b"BEGIN RSA PRIVATE KEY" in traditional

    assert parse_apns_certificate(ISSUED.certificate_pem, traditional).topic == TOPIC


@pytest.mark.parametrize(
    ("issued", "sandbox", "accepted"),
    [
        (DEVELOPMENT, True, True),
        (DEVELOPMENT, False, False),
        (PRODUCTION, False, True),
        (PRODUCTION, True, False),
        (ISSUED, True, True),
        (ISSUED, False, True),
    ],
)
def test_given_an_apple_certificate_then_sandbox_must_match_its_environment(
    issued, sandbox, accepted
):
    if accepted:
        parse_apns_certificate(issued.certificate_pem, issued.private_key_pem, sandbox=sandbox)
        return
    with pytest.raises(InvalidCredential) as raised:
        parse_apns_certificate(issued.certificate_pem, issued.private_key_pem, sandbox=sandbox)
    assert raised.value.parameter == "Sandbox"


def encrypted(key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"password"),
    )


def expired_certificate():
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)
    return AUTHORITY.issue_client(topic=TOPIC, not_valid_after=past)


@pytest.mark.parametrize(
    ("certificate", "private_key", "parameter"),
    [
        (b"", ISSUED.private_key_pem, "Certificate"),
        (b"not a certificate", ISSUED.private_key_pem, "Certificate"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            ISSUED.private_key_pem,
            "Certificate",
        ),
        (ISSUED.certificate_pem, b"", "PrivateKey"),
        (ISSUED.certificate_pem, ISSUED.certificate_pem, "PrivateKey"),
        (ISSUED.certificate_pem, OTHER.private_key_pem, "PrivateKey"),
        (ISSUED.certificate_pem, encrypted(ISSUED.private_key_pem), "PrivateKey"),
        (
            ISSUED.certificate_pem,
            b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----",
            "PrivateKey",
        ),
    ],
    ids=[
        "empty certificate",
        "no pem",
        "broken certificate",
        "empty key",
        "certificate as key",
        "another certificate's key",
        "encrypted key",
        "broken key",
    ],
)
def test_given_a_bad_certificate_credential_then_the_parameter_is_named_and_nothing_leaks(
    certificate, private_key, parameter
):
    with pytest.raises(InvalidCredential) as raised:
        parse_apns_certificate(certificate, private_key)

    assert raised.value.parameter == parameter
    assert_nothing_leaks(raised.value, private_key, OTHER.private_key_pem, ISSUED.private_key_pem)


def test_given_an_expired_certificate_then_it_is_refused_with_its_date():
    issued = expired_certificate()

    with pytest.raises(InvalidCredential, match="expired on") as raised:
        parse_apns_certificate(issued.certificate_pem, issued.private_key_pem)

    assert raised.value.parameter == "Certificate"


def test_given_a_certificate_credential_then_its_repr_shows_no_key():
    credential = parse_apns_certificate(ISSUED.certificate_pem, ISSUED.private_key_pem)

    shown = repr(credential) + str(credential)
    assert TOPIC in shown
    for fragment in secret_fragments(ISSUED.private_key_pem.decode()):
        assert fragment not in shown


# --- APNs token keys -----------------------------------------------------------------------


def test_given_a_p8_key_then_the_token_key_is_parsed():
    key = parse_apns_token_key(pem(ec_key()), key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC)

    assert (key.key_id, key.team_id, key.topic) == (KEY_ID, TEAM_ID, TOPIC)
    assert key.private_key.private_numbers() == ec_key().private_numbers()
    assert pem(ec_key()).splitlines()[1] not in repr(key) + str(key)


def p384_key() -> str:
    return pem(ec.generate_private_key(ec.SECP384R1()))


@pytest.mark.parametrize(
    ("private_key", "key_id", "team_id", "topic", "parameter"),
    [
        ("", KEY_ID, TEAM_ID, TOPIC, "PrivateKey"),
        ("AAAA", KEY_ID, TEAM_ID, TOPIC, "PrivateKey"),
        (pem(rsa_key()), KEY_ID, TEAM_ID, TOPIC, "PrivateKey"),
        (p384_key(), KEY_ID, TEAM_ID, TOPIC, "PrivateKey"),
        (pem(ec_key()), "short", TEAM_ID, TOPIC, "KeyId"),
        (pem(ec_key()), "key0000001", TEAM_ID, TOPIC, "KeyId"),
        (pem(ec_key()), KEY_ID, "TEAM-00001", TOPIC, "TeamId"),
        (pem(ec_key()), KEY_ID, TEAM_ID, "", "Topic"),
        (pem(ec_key()), KEY_ID, TEAM_ID, "com.example/app", "Topic"),
    ],
    ids=[
        "empty",
        "not pem",
        "rsa",
        "p-384",
        "short key id",
        "lower-case key id",
        "bad team id",
        "empty topic",
        "topic with a slash",
    ],
)
def test_given_a_bad_token_key_then_the_parameter_is_named_and_nothing_leaks(
    private_key, key_id, team_id, topic, parameter
):
    with pytest.raises(InvalidCredential) as raised:
        parse_apns_token_key(private_key, key_id=key_id, team_id=team_id, topic=topic)

    assert raised.value.parameter == parameter
    assert_nothing_leaks(raised.value, private_key)


# --- Google service accounts ---------------------------------------------------------------


def test_given_a_service_account_json_then_it_is_parsed_and_its_repr_shows_no_key():
    account = parse_service_account(service_account_json())

    assert (account.project_id, account.client_email) == (PROJECT, CLIENT_EMAIL)
    assert account.private_key.private_numbers() == rsa_key().private_numbers()
    assert account.token_uri == "https://oauth2.googleapis.com/token"
    for fragment in secret_fragments(pem(rsa_key())):
        assert fragment not in repr(account) + str(account)


def test_given_a_stored_service_account_read_as_trusted_then_it_is_the_same_account():
    trusted = parse_service_account(service_account_json(), trusted=True)

    assert trusted.private_key.private_numbers() == rsa_key().private_numbers()
    assert trusted.client_email == CLIENT_EMAIL


@pytest.mark.parametrize("key", [LEGACY_FCM_KEY, GCM_API_KEY, f"  {LEGACY_FCM_KEY}\n"])
def test_given_a_legacy_server_key_then_it_is_refused_saying_what_to_give_instead(key):
    with pytest.raises(InvalidCredential) as raised:
        parse_service_account(key)

    assert raised.value.parameter == "Secret"
    assert raised.value.message == LEGACY_KEY_MESSAGE
    assert "2024" in raised.value.message
    assert "service account" in raised.value.message
    assert_nothing_leaks(raised.value, key)


def test_given_a_gcm_api_key_parameter_then_the_refusal_names_it():
    with pytest.raises(InvalidCredential) as raised:
        parse_service_account(GCM_API_KEY, parameter="ApiKey")

    assert raised.value.parameter == "ApiKey"


BAD_SERVICE_ACCOUNTS = {
    "not json": "{this is: not json, " + pem(rsa_key()),
    "a list": json.dumps([service_account_json()]),
    "some other text": "hello",
    "authorized user": service_account_json(type="authorized_user"),
    "no project": service_account_json(project_id=None),
    "no e-mail": service_account_json(client_email=None),
    "e-mail without @": service_account_json(client_email="sender"),
    "no key id": service_account_json(private_key_id=None),
    "no key": service_account_json(private_key=None),
    "key not pem": service_account_json(private_key="MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
    "ec key": service_account_json(private_key=pem(ec_key())),
    "blank project": service_account_json(project_id="  "),
}


@pytest.mark.parametrize("secret", BAD_SERVICE_ACCOUNTS.values(), ids=BAD_SERVICE_ACCOUNTS)
def test_given_a_bad_service_account_then_secret_is_named_and_nothing_leaks(secret):
    with pytest.raises(InvalidCredential) as raised:
        parse_service_account(secret)

    assert raised.value.parameter == "Secret"
    assert_nothing_leaks(raised.value, secret, pem(rsa_key()), pem(ec_key()))


# --- Twilio accounts -----------------------------------------------------------------------


def test_given_an_account_and_its_auth_token_then_they_are_the_basic_credentials():
    account = parse_twilio_account(ACCOUNT_SID, auth_token=AUTH_TOKEN)

    assert (account.account_sid, account.username, account.password) == (
        ACCOUNT_SID,
        ACCOUNT_SID,
        AUTH_TOKEN,
    )
    assert AUTH_TOKEN not in repr(account) + str(account)


def test_given_an_api_key_then_its_sid_is_the_user_and_the_account_stays_in_the_path():
    account = parse_twilio_account(
        ACCOUNT_SID, api_key_sid=API_KEY_SID, api_key_secret=API_KEY_SECRET
    )

    assert (account.account_sid, account.username, account.password) == (
        ACCOUNT_SID,
        API_KEY_SID,
        API_KEY_SECRET,
    )
    assert API_KEY_SECRET not in repr(account)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"account_sid": "AC123", "auth_token": AUTH_TOKEN}, "AccountSid"),
        ({"account_sid": API_KEY_SID, "auth_token": AUTH_TOKEN}, "AccountSid"),
        ({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN[:-1] + "z"}, "AuthToken"),
        ({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN + "0"}, "AuthToken"),
        ({"account_sid": ACCOUNT_SID}, "ApiKeySid"),
        (
            {
                "account_sid": ACCOUNT_SID,
                "api_key_sid": ACCOUNT_SID,
                "api_key_secret": API_KEY_SECRET,
            },
            "ApiKeySid",
        ),
        ({"account_sid": ACCOUNT_SID, "api_key_sid": API_KEY_SID}, "ApiKeySecret"),
        (
            {"account_sid": ACCOUNT_SID, "api_key_sid": API_KEY_SID, "api_key_secret": "short!"},
            "ApiKeySecret",
        ),
        (
            {
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "api_key_sid": API_KEY_SID,
                "api_key_secret": API_KEY_SECRET,
            },
            "AuthToken",
        ),
    ],
)
def test_given_bad_twilio_credentials_then_the_parameter_is_named_and_nothing_leaks(
    arguments, parameter
):
    with pytest.raises(InvalidCredential) as raised:
        parse_twilio_account(**arguments)

    assert raised.value.parameter == parameter
    secrets = [arguments.get("auth_token", ""), arguments.get("api_key_secret", "")]
    assert_nothing_leaks(raised.value, *[s for s in secrets if len(s) >= 6])
