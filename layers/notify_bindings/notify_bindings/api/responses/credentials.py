"""Twilio's JSON for Credentials: one Credential, and a page of them. Never its secrets: the
stored Credential holds none."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from notify_bindings.api.responses.pages import TWILIO_DATE, PageLinks, PageMeta
from notify_bindings.domain.credentials import Credential


class CredentialResource(BaseModel):
    """A Credential as Twilio's JSON has it: `sandbox` a string, "True" or "False"."""

    model_config = ConfigDict(defer_build=True)

    sid: str
    account_sid: str
    friendly_name: str | None
    type: str
    sandbox: str
    date_created: str
    date_updated: str
    url: str

    @classmethod
    def of(cls, credential: Credential, base_url: str) -> CredentialResource:
        return cls(
            sid=credential.sid,
            account_sid=credential.account_sid,
            friendly_name=credential.friendly_name,
            type=credential.type.value,
            sandbox=str(bool(credential.sandbox)),
            date_created=credential.date_created.strftime(TWILIO_DATE),
            date_updated=credential.date_updated.strftime(TWILIO_DATE),
            url=f"{base_url}/v1/Credentials/{credential.sid}",
        )


class CredentialPageResource(BaseModel):
    model_config = ConfigDict(defer_build=True)

    credentials: list[CredentialResource]
    meta: PageMeta

    @classmethod
    def of(
        cls, credentials: list[Credential], *, base_url: str, links: PageLinks
    ) -> CredentialPageResource:
        return cls(
            credentials=[CredentialResource.of(c, base_url) for c in credentials],
            meta=PageMeta.of(f"{base_url}/v1/Credentials", "credentials", links),
        )
