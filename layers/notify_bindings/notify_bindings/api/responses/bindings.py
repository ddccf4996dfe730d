"""Twilio's JSON for bindings: one Binding, and a page of them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from notify_bindings.api.responses.pages import TWILIO_DATE, PageLinks, PageMeta
from notify_bindings.domain.bindings import Binding
from notify_bindings.domain.users import user_path


class BindingLinks(BaseModel):
    model_config = ConfigDict(defer_build=True)

    user: str


class BindingResource(BaseModel):
    """A Binding as Twilio's JSON has it: exactly its fields, dates as `YYYY-MM-DDTHH:MM:SSZ`."""

    model_config = ConfigDict(defer_build=True)

    sid: str
    account_sid: str
    service_sid: str
    credential_sid: str | None
    date_created: str
    date_updated: str
    notification_protocol_version: str | None
    endpoint: str | None
    identity: str
    binding_type: str
    address: str
    tags: list[str]
    url: str
    links: BindingLinks

    @classmethod
    def of(cls, binding: Binding, base_url: str) -> BindingResource:
        service_url = f"{base_url}/v1/Services/{binding.service_sid}"
        created = binding.date_created.strftime(TWILIO_DATE)
        return cls(
            sid=binding.sid,
            account_sid=binding.account_sid,
            service_sid=binding.service_sid,
            credential_sid=binding.credential_sid,
            date_created=created,
            date_updated=created,
            notification_protocol_version=binding.notification_protocol_version,
            endpoint=None,
            identity=binding.identity,
            binding_type=binding.binding_type.value,
            address=binding.address,
            tags=list(binding.tags),
            url=f"{service_url}/Bindings/{binding.sid}",
            links=BindingLinks(user=base_url + user_path(binding.service_sid, binding.identity)),
        )


class BindingPageResource(BaseModel):
    model_config = ConfigDict(defer_build=True)

    bindings: list[BindingResource]
    meta: PageMeta

    @classmethod
    def of(
        cls, bindings: list[Binding], *, base_url: str, service_sid: str, links: PageLinks
    ) -> BindingPageResource:
        return cls(
            bindings=[BindingResource.of(binding, base_url) for binding in bindings],
            meta=PageMeta.of(f"{base_url}/v1/Services/{service_sid}/Bindings", "bindings", links),
        )

    @classmethod
    def of_user(
        cls,
        bindings: list[Binding],
        *,
        base_url: str,
        service_sid: str,
        identity: str,
        links: PageLinks,
    ) -> BindingPageResource:
        """A page of `GET .../Users/{Identity}/Bindings` (ours): the same shape, its own URLs."""
        user_url = base_url + user_path(service_sid, identity)
        return cls(
            bindings=[BindingResource.of(binding, base_url) for binding in bindings],
            meta=PageMeta.of(f"{user_url}/Bindings", "bindings", links),
        )
