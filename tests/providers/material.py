"""Keys, credentials and a settable clock for the provider and stand-in tests. Keys are made
once per session (an RSA key takes tens of milliseconds)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

KEY_ID = "KEY0000001"
TEAM_ID = "TEAM000001"
OTHER_TEAM_ID = "TEAM000002"
TOPIC = "com.example.app"
PROJECT = "example-project"
CLIENT_EMAIL = "sender@example-project.iam.gserviceaccount.com"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fedcba9876543210" * 2
API_KEY_SID = "SK" + "00112233445566778899aabbccddeeff"
API_KEY_SECRET = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t00"
MESSAGING_SERVICE_SID = "MG" + "ab" * 16
DEVICE_TOKEN = "00fe" * 16
T0 = 1_800_000_000.0


class Clock:
    """A Unix clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@functools.cache
def ec_key(name: str = "apns") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def rsa_key(name: str = "google") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_json(
    key: rsa.RSAPrivateKey | None = None,
    *,
    project_id: str | None = PROJECT,
    client_email: str | None = CLIENT_EMAIL,
    **overrides: object,
) -> str:
    document: dict[str, object] = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem(key or rsa_key()),
        "client_email": client_email,
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    document.update(overrides)
    return json.dumps({k: v for k, v in document.items() if v is not None})


@dataclass(frozen=True)
class Secrets:
    """Every secret string a test handed to a parser, to look for in what came back."""

    values: tuple[str, ...]

    def leaked_into(self, text: str) -> list[str]:
        return [value for value in self.values if value and value in text]


def apns_certificate_form(topic: str = TOPIC) -> dict[str, str]:
    """An APNs certificate and its key as PEM text, as an `apn` Credential's form gives them."""
    issued = _authority().issue_client(topic=topic)
    return {
        "Certificate": issued.certificate_pem.decode(),
        "PrivateKey": issued.private_key_pem.decode(),
    }


@functools.cache
def _authority() -> Any:
    from local_api.standins.tls import CertificateAuthority

    return CertificateAuthority("credential tests")


def credential_form(kind: str) -> dict[str, str]:
    """A valid create form for a Credential of `kind` ("apn", "apn-token", "fcm", "gcm", "sms")."""
    if kind == "apn":
        return {"Type": "apn", **apns_certificate_form()}
    if kind == "apn-token":
        return {
            "Type": "apn",
            "PrivateKey": pem(ec_key()),
            "ApnKeyId": KEY_ID,
            "ApnTeamId": TEAM_ID,
            "ApnTopic": TOPIC,
        }
    if kind in ("fcm", "gcm"):
        return {"Type": kind, "Secret": service_account_json()}
    return {"Type": "sms", "ApiKey": ACCOUNT_SID, "Secret": AUTH_TOKEN}


def credential_material(kind: str) -> Any:
    """The material of `credential_form(kind)`, as the store takes it."""
    from notify_bindings.domain.credentials import CredentialMaterial

    form = credential_form(kind)
    return CredentialMaterial(
        certificate=form.get("Certificate"),
        private_key=form.get("PrivateKey"),
        api_key=form.get("ApiKey"),
        secret=form.get("Secret"),
        apn_key_id=form.get("ApnKeyId"),
        apn_team_id=form.get("ApnTeamId"),
        apn_topic=form.get("ApnTopic"),
    )
