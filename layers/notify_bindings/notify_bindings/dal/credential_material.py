"""Credential material checked and parsed into what the providers' clients take (apart from the
store, so that only what checks or opens material loads cryptography)."""

from __future__ import annotations

from notify_bindings.domain.credentials import CredentialMaterial, CredentialType
from notify_bindings.providers.credentials import (
    ApnsCertificate,
    ApnsTokenKey,
    InvalidCredential,
    ServiceAccount,
    TwilioAccount,
    parse_apns_certificate,
    parse_apns_token_key,
    parse_service_account,
    parse_twilio_account,
)

__all__ = ["InvalidCredential", "ProviderCredential", "environments_of", "read_material"]

ProviderCredential = ApnsCertificate | ApnsTokenKey | ServiceAccount | TwilioAccount
# The parameters the parsers name, as the Credential resource names them.
_PARAMETERS = {
    "KeyId": "ApnKeyId",
    "TeamId": "ApnTeamId",
    "Topic": "ApnTopic",
    "AccountSid": "ApiKey",
    "ApiKeySid": "ApiKey",
    "AuthToken": "Secret",
    "ApiKeySecret": "Secret",
}


def environments_of(parsed: ProviderCredential) -> frozenset[str]:
    """The APNs environments a certificate opens, as its subject says; none for the others."""
    return parsed.environments if isinstance(parsed, ApnsCertificate) else frozenset()


def read_material(
    kind: CredentialType,
    material: CredentialMaterial,
    sandbox: bool | None,
    *,
    trusted: bool = False,
) -> ProviderCredential:
    """The material checked and parsed as the providers' clients use it; InvalidCredential
    naming the Credential resource's parameter (never quoting a secret)."""
    try:
        return _parse(kind, material, sandbox, trusted)
    except InvalidCredential as error:
        parameter = _PARAMETERS.get(error.parameter, error.parameter)
        raise InvalidCredential(parameter, error.message) from None


def _parse(
    kind: CredentialType, material: CredentialMaterial, sandbox: bool | None, trusted: bool
) -> ProviderCredential:
    if kind is CredentialType.APN:
        if material.token_auth:
            return parse_apns_token_key(
                _required(material.private_key, "PrivateKey", "with ApnKeyId"),
                key_id=_required(material.apn_key_id, "ApnKeyId", "for token-based APNs"),
                team_id=_required(material.apn_team_id, "ApnTeamId", "for token-based APNs"),
                topic=_required(material.apn_topic, "ApnTopic", "for token-based APNs"),
            )
        return parse_apns_certificate(
            _required(material.certificate, "Certificate", "for an apn credential"),
            _required(material.private_key, "PrivateKey", "with a Certificate"),
            sandbox=sandbox,
            trusted=trusted,
        )
    if kind in (CredentialType.FCM, CredentialType.GCM):
        secret = _required(material.secret, "Secret", f"for an {kind.value} credential")
        return parse_service_account(secret, trusted=trusted)
    api_key = _required(material.api_key, "ApiKey", "for an sms credential")
    secret = _required(material.secret, "Secret", "for an sms credential")
    account_sid, _, key_sid = api_key.partition(":")
    if key_sid:
        return parse_twilio_account(account_sid, api_key_sid=key_sid, api_key_secret=secret)
    return parse_twilio_account(account_sid, auth_token=secret)


def _required(value: str | None, parameter: str, why: str) -> str:
    if value is None or not value.strip():
        raise InvalidCredential(parameter, f"is required {why}")
    return value
