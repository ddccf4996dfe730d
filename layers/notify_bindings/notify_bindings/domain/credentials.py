"""The stored Credential: what Twilio's JSON shows of it, and its secret material apart.

A Credential is `apn`, `fcm`, `gcm` (delivered through FCM HTTP v1, as `fcm`) or, ours, `sms`
(Twilio Messaging). Its secrets are never part of `Credential`: they travel as
`CredentialMaterial`, which the store seals (dal/credentials.py) and whose repr names only which
fields are set. The form for a Credential is in `api/requests/credentials.py`, Twilio's JSON for
it in `api/responses/credentials.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum

MAX_FRIENDLY_NAME_LENGTH = 64


class CredentialType(StrEnum):
    APN = "apn"
    FCM = "fcm"
    GCM = "gcm"
    SMS = "sms"  # ours: Twilio Messaging


@dataclass(frozen=True, slots=True)
class Credential:
    """A stored Credential, with nothing secret in it."""

    sid: str
    account_sid: str
    type: CredentialType
    date_created: datetime
    date_updated: datetime
    friendly_name: str | None = None
    # Which APNs environment an `apn` credential opens; None for the other types.
    sandbox: bool | None = None
    # The APNs environments an `apn` certificate can open, as its subject says ("sandbox",
    # "production"); empty when it does not say, or for a token key. Not secret: it lets
    # Sandbox change without the certificate being read back.
    environments: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, repr=False)
class CredentialMaterial:
    """The secret parameters of a Credential as given (Twilio's `Certificate`, `PrivateKey`,
    `ApiKey`, `Secret`, and ours `ApnKeyId`, `ApnTeamId`, `ApnTopic`); None where not given."""

    certificate: str | None = None
    private_key: str | None = None
    api_key: str | None = None
    secret: str | None = None
    apn_key_id: str | None = None
    apn_team_id: str | None = None
    apn_topic: str | None = None

    def __repr__(self) -> str:
        given = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        return f"CredentialMaterial(given={given!r})"

    def as_dict(self) -> dict[str, str]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}

    @classmethod
    def from_dict(cls, values: dict[str, str]) -> CredentialMaterial:
        names = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in names})

    @property
    def token_auth(self) -> bool:
        """An APNs token key (.p8 with Key ID, Team ID and topic) rather than a certificate."""
        return self.certificate is None and any(
            v is not None for v in (self.apn_key_id, self.apn_team_id, self.apn_topic)
        )
