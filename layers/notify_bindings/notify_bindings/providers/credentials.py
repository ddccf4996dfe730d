"""The secret material of Credentials, checked and parsed into what the clients use.

Each parser raises `InvalidCredential`, which names the Twilio parameter at fault (`Certificate`,
`PrivateKey`, `Sandbox`, `Secret`, `ApiKey`, ...) and says what is wrong in words that never
quote the input: no secret reaches an exception's message, str or repr, and none is chained
(`from None`: a JSON decoding error keeps the whole document). The parsed credentials show only
what is not secret in their repr.

Parameters that Twilio's Credential resource does not have (token-based APNs keys, Twilio
Messages accounts) are named here as the resource that accepts them should name them:
`KeyId`, `TeamId`, `Topic`, `AccountSid`, `AuthToken`, `ApiKeySid`, `ApiKeySecret`.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
_PEM_PRIVATE_KEY = re.compile(
    rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----\r?\n.+?\r?\n-----END \1-----",
    re.DOTALL,
)
_APPLE_KEY_ID = re.compile(r"[A-Z0-9]{10}")
_APPLE_TEAM_ID = re.compile(r"[A-Z0-9]{10}")
# A bundle ID, with the suffixes of the other push types (.voip, .complication, ...).
_TOPIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,254}")
# Legacy FCM server keys ("AAAA...:APA91b...") and GCM/Google API keys ("AIza" + 35).
_LEGACY_SERVER_KEY = re.compile(
    r"(AAAA[A-Za-z0-9_\-]{7}:APA91b[A-Za-z0-9_\-]+|AIza[0-9A-Za-z_\-]{35})"
)
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_API_KEY_SID = re.compile(r"SK[0-9a-fA-F]{32}")
_AUTH_TOKEN = re.compile(r"[0-9a-fA-F]{32}")
_API_KEY_SECRET = re.compile(r"[A-Za-z0-9]{32}")
# Apple's push certificates say in their subject's common name which APNs environments
# they open: development certificates the sandbox, production ones production, and the
# universal "Apple Push Services" certificates both.
_SANDBOX, _PRODUCTION = "sandbox", "production"
_CERTIFICATE_KINDS = (
    ("Apple Development IOS Push Services", frozenset({_SANDBOX})),
    ("Apple Development Mac Push Services", frozenset({_SANDBOX})),
    ("Apple Production IOS Push Services", frozenset({_PRODUCTION})),
    ("Apple Production Mac Push Services", frozenset({_PRODUCTION})),
    ("Apple Push Services", frozenset({_SANDBOX, _PRODUCTION})),
)
LEGACY_KEY_MESSAGE = (
    "Legacy FCM and GCM server keys stopped working in 2024, when Google shut the legacy "
    "HTTP API down; give the JSON key of a Google service account of the Firebase project "
    "(Firebase console: Project settings > Service accounts > Generate new private key)"
)


class InvalidCredential(ValueError):
    """Secret material that cannot be used, naming the parameter; never quoting it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message

    def __str__(self) -> str:
        return f"{self.parameter}: {self.message}"

    def __repr__(self) -> str:
        return f"InvalidCredential(parameter={self.parameter!r}, message={self.message!r})"


@dataclass(frozen=True, repr=False)
class ApnsCertificate:
    """TLS client certificate authentication: a certificate (and chain) and its private key,
    both as unencrypted PEM, for ssl.SSLContext.load_cert_chain."""

    certificate_pem: bytes = field(compare=False)
    private_key_pem: bytes = field(compare=False)
    # The bundle ID sent as apns-topic: the explicit one, else the certificate's subject UID.
    topic: str | None
    # The APNs environments the certificate opens ("sandbox", "production"); empty when its
    # subject does not say (a certificate not issued by Apple, as in tests).
    environments: frozenset[str]
    not_valid_after: datetime.datetime

    def __repr__(self) -> str:
        return (
            f"ApnsCertificate(topic={self.topic!r}, environments={sorted(self.environments)!r}, "
            f"not_valid_after={self.not_valid_after.isoformat()!r})"
        )


@dataclass(frozen=True, repr=False)
class ApnsTokenKey:
    """Token authentication: the .p8 signing key (EC P-256), its Key ID and the Team ID."""

    private_key: ec.EllipticCurvePrivateKey = field(compare=False)
    key_id: str
    team_id: str
    topic: str

    def __repr__(self) -> str:
        return (
            f"ApnsTokenKey(key_id={self.key_id!r}, team_id={self.team_id!r}, topic={self.topic!r})"
        )


@dataclass(frozen=True, repr=False)
class ServiceAccount:
    """A Google service account's key, for FCM HTTP v1 access tokens."""

    project_id: str
    client_email: str
    private_key_id: str
    private_key: rsa.RSAPrivateKey = field(compare=False)
    # As the JSON gives it; informational only: the token URL comes from settings, never from
    # the key (a key naming any URL would otherwise make the sender post signed JWTs there).
    token_uri: str | None = None

    def __repr__(self) -> str:
        return (
            f"ServiceAccount(project_id={self.project_id!r}, client_email={self.client_email!r}, "
            f"private_key_id={self.private_key_id!r})"
        )


@dataclass(frozen=True, repr=False)
class TwilioAccount:
    """Basic credentials for Twilio's REST API: the account SID in the path, and either the
    account's auth token or an API key (SID and secret) as user and password."""

    account_sid: str
    username: str
    password: str = field(compare=False)

    def __repr__(self) -> str:
        return f"TwilioAccount(account_sid={self.account_sid!r}, username={self.username!r})"


def parse_apns_certificate(
    certificate: str | bytes,
    private_key: str | bytes,
    *,
    topic: str | None = None,
    sandbox: bool | None = None,
    now: datetime.datetime | None = None,
    trusted: bool = False,
) -> ApnsCertificate:
    """An APNs certificate credential (Twilio's `Certificate`, `PrivateKey` and `Sandbox`).

    Text outside the PEM blocks is ignored, as Twilio's console asks users to strip it. The
    key must be unencrypted and match the certificate; the certificate must be valid at `now`
    and, when its subject says which environments it opens, open the one `sandbox` names.
    `trusted`: material checked when its Credential was stored, read again by a delivering
    function; skips the consistency check of an RSA key (about 35 ms a key)."""
    certificate_blocks = _PEM_CERTIFICATE.findall(_bytes(certificate))
    if not certificate_blocks:
        raise InvalidCredential("Certificate", "must hold a PEM certificate (BEGIN CERTIFICATE)")
    try:
        chain = [x509.load_pem_x509_certificate(block) for block in certificate_blocks]
    except ValueError:
        raise InvalidCredential("Certificate", "is not a readable X.509 certificate") from None
    leaf = chain[0]
    key = _private_key("PrivateKey", private_key, trusted=trusted)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidCredential("PrivateKey", "must be an RSA or EC private key")
    if _public_der(key.public_key()) != _public_der(leaf.public_key()):
        raise InvalidCredential("PrivateKey", "does not belong to the certificate")
    moment = now or datetime.datetime.now(datetime.UTC)
    if leaf.not_valid_after_utc <= moment:
        expired = leaf.not_valid_after_utc.date().isoformat()
        raise InvalidCredential("Certificate", f"expired on {expired}")
    if leaf.not_valid_before_utc > moment:
        raise InvalidCredential("Certificate", "is not valid yet")
    environments = _environments(leaf)
    if sandbox is not None and environments:
        wanted = _SANDBOX if sandbox else _PRODUCTION
        if wanted not in environments:
            (opened,) = environments
            raise InvalidCredential(
                "Sandbox", f"is {str(sandbox).lower()}, but the certificate is for {opened} APNs"
            )
    if topic is not None:
        _check_topic(topic)
    return ApnsCertificate(
        certificate_pem=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        topic=topic or _subject_uid(leaf),
        environments=environments,
        not_valid_after=leaf.not_valid_after_utc,
    )


def parse_apns_token_key(
    private_key: str | bytes, *, key_id: str, team_id: str, topic: str
) -> ApnsTokenKey:
    """An APNs token-auth key: the .p8 file's text (a PKCS#8 EC P-256 private key), its
    10-character Key ID, the 10-character Team ID and the topic (the app's bundle ID)."""
    key = _private_key("PrivateKey", private_key)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidCredential(
            "PrivateKey", "must be the .p8 APNs key Apple issued: an EC P-256 private key"
        )
    if not _APPLE_KEY_ID.fullmatch(key_id):
        raise InvalidCredential("KeyId", "must be the 10-character Key ID of the .p8 key")
    if not _APPLE_TEAM_ID.fullmatch(team_id):
        raise InvalidCredential("TeamId", "must be the 10-character Apple Developer Team ID")
    _check_topic(topic)
    return ApnsTokenKey(private_key=key, key_id=key_id, team_id=team_id, topic=topic)


def parse_service_account(
    secret: str | bytes, *, parameter: str = "Secret", trusted: bool = False
) -> ServiceAccount:
    """A Google service account's JSON key, as an FCM Credential's `Secret` (`trusted`: as
    for parse_apns_certificate).

    A legacy server key (`AAAA...:APA91b...`, or a GCM API key) is refused with a message
    saying that those keys stopped working and what to give instead."""
    text = _bytes(secret).decode("utf-8", errors="replace").strip()
    if _LEGACY_SERVER_KEY.fullmatch(text):
        raise InvalidCredential(parameter, LEGACY_KEY_MESSAGE)
    if not text.startswith("{"):
        raise InvalidCredential(
            parameter, "must be the JSON key of a Google service account, not a server key"
        )
    try:
        document: Any = json.loads(text)
    except ValueError:
        raise InvalidCredential(parameter, "is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidCredential(parameter, "must be a JSON object")
    if document.get("type") != "service_account":
        raise InvalidCredential(
            parameter, 'must be a service account key ("type": "service_account")'
        )
    fields = {}
    for name in ("project_id", "client_email", "private_key_id", "private_key"):
        value = document.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidCredential(parameter, f"lacks {name}")
        fields[name] = value.strip()
    if "@" not in fields["client_email"]:
        raise InvalidCredential(parameter, "client_email is not an e-mail address")
    key = _private_key(parameter, fields["private_key"], what="private_key", trusted=trusted)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidCredential(parameter, "private_key must be an RSA private key")
    token_uri = document.get("token_uri")
    return ServiceAccount(
        project_id=fields["project_id"],
        client_email=fields["client_email"],
        private_key_id=fields["private_key_id"],
        private_key=key,
        token_uri=token_uri if isinstance(token_uri, str) else None,
    )


def parse_twilio_account(
    account_sid: str,
    *,
    auth_token: str | None = None,
    api_key_sid: str | None = None,
    api_key_secret: str | None = None,
) -> TwilioAccount:
    """Credentials for Twilio's Messages API: the account SID with its auth token, or with an
    API key's SID and secret."""
    if not _ACCOUNT_SID.fullmatch(account_sid):
        raise InvalidCredential("AccountSid", "must be AC followed by 32 hexadecimal digits")
    if auth_token is not None and (api_key_sid is not None or api_key_secret is not None):
        raise InvalidCredential("AuthToken", "give either the auth token or an API key, not both")
    if auth_token is not None:
        if not _AUTH_TOKEN.fullmatch(auth_token):
            raise InvalidCredential("AuthToken", "must be 32 hexadecimal digits")
        return TwilioAccount(account_sid, account_sid, auth_token)
    if api_key_sid is None or not _API_KEY_SID.fullmatch(api_key_sid):
        raise InvalidCredential("ApiKeySid", "must be SK followed by 32 hexadecimal digits")
    if api_key_secret is None or not _API_KEY_SECRET.fullmatch(api_key_secret):
        raise InvalidCredential("ApiKeySecret", "must be the API key's 32-character secret")
    return TwilioAccount(account_sid, api_key_sid, api_key_secret)


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8", errors="replace") if isinstance(value, str) else value


def _private_key(
    parameter: str, text: str | bytes, *, what: str = "", trusted: bool = False
) -> Any:
    """The first PEM private key in `text`, unencrypted."""
    prefix = f"{what} " if what else ""
    match = _PEM_PRIVATE_KEY.search(_bytes(text))
    if match is None:
        raise InvalidCredential(parameter, f"{prefix}must hold a PEM private key".lstrip())
    if match[1] == b"ENCRYPTED PRIVATE KEY":
        raise InvalidCredential(parameter, f"{prefix}must not be encrypted".lstrip())
    try:
        return serialization.load_pem_private_key(
            match[0], password=None, unsafe_skip_rsa_key_validation=trusted
        )
    except TypeError:  # a password-protected traditional PEM (Proc-Type: 4,ENCRYPTED)
        raise InvalidCredential(parameter, f"{prefix}must not be encrypted".lstrip()) from None
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidCredential(
            parameter, f"{prefix}is not a readable private key".lstrip()
        ) from None


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _subject_uid(certificate: x509.Certificate) -> str | None:
    values = certificate.subject.get_attributes_for_oid(NameOID.USER_ID)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", errors="replace")


def _environments(certificate: x509.Certificate) -> frozenset[str]:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    for prefix, environments in _CERTIFICATE_KINDS:
        if common_name.startswith(prefix):
            return environments
    return frozenset()


def _check_topic(topic: str) -> None:
    if not _TOPIC.fullmatch(topic):
        raise InvalidCredential("Topic", "must be the app's bundle ID (letters, digits, . and -)")
