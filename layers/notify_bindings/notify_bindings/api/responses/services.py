"""Twilio's JSON for Services: one Service, and a page of them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from notify_bindings.api.responses.pages import TWILIO_DATE, PageLinks, PageMeta
from notify_bindings.domain.services import Service


class ServiceLinks(BaseModel):
    model_config = ConfigDict(defer_build=True)

    bindings: str
    notifications: str
    segments: str
    users: str


class ServiceResource(BaseModel):
    """A Service as Twilio's JSON has it."""

    model_config = ConfigDict(defer_build=True)

    sid: str
    account_sid: str
    friendly_name: str | None
    date_created: str
    date_updated: str
    apn_credential_sid: str | None
    gcm_credential_sid: str | None
    fcm_credential_sid: str | None
    messaging_service_sid: str | None
    facebook_messenger_page_id: str | None
    default_apn_notification_protocol_version: str | None
    default_gcm_notification_protocol_version: str | None
    default_fcm_notification_protocol_version: str | None
    log_enabled: bool
    url: str
    links: ServiceLinks
    alexa_skill_id: str | None
    default_alexa_notification_protocol_version: str | None
    delivery_callback_url: str | None
    delivery_callback_enabled: bool
    identity_binding_limit_policy: str  # ours, not Twilio's
    binding_ttl_days: int | None  # ours
    sms_credential_sid: str | None  # ours

    @classmethod
    def of(cls, service: Service, base_url: str) -> ServiceResource:
        url = f"{base_url}/v1/Services/{service.sid}"
        return cls(
            **service.settings(),
            sid=service.sid,
            account_sid=service.account_sid,
            date_created=service.date_created.strftime(TWILIO_DATE),
            date_updated=service.date_updated.strftime(TWILIO_DATE),
            url=url,
            links=ServiceLinks(
                bindings=f"{url}/Bindings",
                notifications=f"{url}/Notifications",
                segments=f"{url}/Segments",
                users=f"{url}/Users",
            ),
        )


class ServicePageResource(BaseModel):
    model_config = ConfigDict(defer_build=True)

    services: list[ServiceResource]
    meta: PageMeta

    @classmethod
    def of(cls, services: list[Service], *, base_url: str, links: PageLinks) -> ServicePageResource:
        return cls(
            services=[ServiceResource.of(service, base_url) for service in services],
            meta=PageMeta.of(f"{base_url}/v1/Services", "services", links),
        )
