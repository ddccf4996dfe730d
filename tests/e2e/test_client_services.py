"""The Service resource through the official client: create, fetch, list and page, update,
delete; and the protocol versions its bindings take from it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.e2e.support import Credentials, client_for, delete_quietly

SERVICE_SID = re.compile(r"IS[0-9a-f]{32}")
# Placeholders: `every_setting` names the account's real Credentials instead.
APN_CREDENTIAL = "CR" + "a" * 32
GCM_CREDENTIAL = "CR" + "b" * 32
FCM_CREDENTIAL = "CR" + "c" * 32
MESSAGING_SERVICE = "MG" + "d" * 32

EVERY_SETTING: dict[str, Any] = {
    "friendly_name": "Every setting",
    "apn_credential_sid": APN_CREDENTIAL,
    "gcm_credential_sid": GCM_CREDENTIAL,
    "fcm_credential_sid": FCM_CREDENTIAL,
    "messaging_service_sid": MESSAGING_SERVICE,
    "default_apn_notification_protocol_version": "4",
    "default_gcm_notification_protocol_version": "5",
    "default_fcm_notification_protocol_version": "6",
    "log_enabled": False,  # true by default
    "delivery_callback_url": "https://example.com/notify/callback?x=1",
    "delivery_callback_enabled": True,  # false by default
    # Deprecated by Twilio, still in its spec and its clients.
    "facebook_messenger_page_id": "1234567890",
    "alexa_skill_id": "amzn1.ask.skill.0123",
    "default_alexa_notification_protocol_version": "2",
}
ALL_FIELDS = (*EVERY_SETTING, "sid", "account_sid", "date_created", "date_updated", "url", "links")


@pytest.fixture
def every_setting(credentials: dict[str, str]) -> dict[str, Any]:
    """EVERY_SETTING, its Credentials the account's own (a Service names no other)."""
    return {
        **EVERY_SETTING,
        "apn_credential_sid": credentials["apn"],
        "gcm_credential_sid": credentials["gcm"],
        "fcm_credential_sid": credentials["fcm"],
    }


def fields_of(service: Any) -> dict[str, Any]:
    return {name: getattr(service, name) for name in ALL_FIELDS}


def settings_of(service: Any) -> dict[str, Any]:
    return {name: getattr(service, name) for name in EVERY_SETTING}


def assert_recent(moment: object) -> None:
    assert isinstance(moment, datetime), f"the client could not parse {moment!r}"
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


@pytest.fixture
def services(twilio_client: Any) -> Iterator[Any]:
    """The client's `ServiceList`; whatever the test creates through `create` is deleted after."""
    created: list[str] = []
    service_list = twilio_client.notify.v1.services

    class Tracking:
        def create(self, **settings: Any) -> Any:
            service = service_list.create(**settings)
            created.append(service.sid)
            return service

        def __getattr__(self, name: str) -> Any:
            return getattr(service_list, name)

        def __call__(self, sid: str) -> Any:
            return service_list(sid)

    yield Tracking()
    for sid in created:
        delete_quietly(twilio_client, sid)


def assert_not_found(attempt: Any) -> None:
    with pytest.raises(TwilioRestException) as caught:
        attempt()
    assert (caught.value.status, caught.value.code) == (404, 20404)


# -- create and fetch ----------------------------------------------------------------------


def test_given_every_setting_when_a_service_is_created_then_each_round_trips_on_create_and_fetch(
    every_setting, services, account, local_api_url
):
    created = services.create(**every_setting)

    assert settings_of(created) == every_setting
    assert SERVICE_SID.fullmatch(created.sid)
    assert created.account_sid == account.account_sid
    assert_recent(created.date_created)
    assert created.date_updated == created.date_created
    url = f"{local_api_url}/v1/Services/{created.sid}"
    assert created.url == url
    assert created.links == {
        "bindings": f"{url}/Bindings",
        "notifications": f"{url}/Notifications",
        "segments": f"{url}/Segments",
        "users": f"{url}/Users",
    }
    assert fields_of(services(created.sid).fetch()) == fields_of(created)


def test_given_no_settings_when_a_service_is_created_then_twilios_defaults(services):
    created = services.create()

    assert settings_of(created) == {
        **dict.fromkeys(EVERY_SETTING, None),
        "log_enabled": True,
        "delivery_callback_enabled": False,
    }
    assert fields_of(services(created.sid).fetch()) == fields_of(created)


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"friendly_name": "x" * 65}, "FriendlyName"),
        ({"apn_credential_sid": "CR123"}, "ApnCredentialSid"),
        ({"messaging_service_sid": "CR" + "d" * 32}, "MessagingServiceSid"),
        ({"delivery_callback_url": "ftp://example.com/x"}, "DeliveryCallbackUrl"),
    ],
    ids=["long-friendly-name", "short-credential-sid", "wrong-messaging-sid", "not-http-url"],
)
def test_given_an_invalid_setting_when_a_service_is_created_then_400_naming_it_and_none_created(
    services, setting, named
):
    marker = f"invalid {secrets.token_hex(4)}"

    with pytest.raises(TwilioRestException) as caught:
        services.create(**{"friendly_name": marker, **setting})

    assert (caught.value.status, caught.value.code) == (400, 20001)
    assert named in caught.value.msg
    assert services.list(friendly_name=marker) == []


# -- update --------------------------------------------------------------------------------


def test_given_a_service_when_some_settings_are_updated_then_only_those_change(
    every_setting, services
):
    created = services.create(**every_setting)

    updated = services(created.sid).update(
        friendly_name="Renamed",
        default_gcm_notification_protocol_version="7",
        log_enabled=True,
    )

    assert settings_of(updated) == {
        **every_setting,
        "friendly_name": "Renamed",
        "default_gcm_notification_protocol_version": "7",
        "log_enabled": True,
    }
    assert (updated.sid, updated.account_sid) == (created.sid, created.account_sid)
    assert updated.date_created == created.date_created
    assert updated.date_updated >= created.date_updated
    assert fields_of(services(created.sid).fetch()) == fields_of(updated)


def test_given_a_service_when_a_setting_is_updated_to_empty_then_it_is_cleared(
    every_setting, services
):
    created = services.create(**every_setting)

    updated = services(created.sid).update(apn_credential_sid="", delivery_callback_url="")

    assert settings_of(updated) == {
        **every_setting,
        "apn_credential_sid": None,
        "delivery_callback_url": None,
    }
    assert settings_of(services(created.sid).fetch()) == settings_of(updated)


def test_given_an_update_with_an_invalid_setting_when_sent_then_400_and_nothing_changes(
    every_setting, services
):
    created = services.create(**every_setting)

    with pytest.raises(TwilioRestException) as caught:
        services(created.sid).update(friendly_name="Renamed", gcm_credential_sid="nope")

    assert (caught.value.status, caught.value.code) == (400, 20001)
    assert fields_of(services(created.sid).fetch()) == fields_of(created)


# -- list and page -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh_account_client(local_api, admin) -> Any:
    """The client of an account of the module's own, made with the admin CLI, so that its
    Services are exactly those the tests create."""
    created: Credentials = admin.create_account()
    return client_for(local_api.url, created)


@pytest.fixture(scope="module")
def seven(fresh_account_client) -> Iterator[dict[str, list[str]]]:
    """Seven Services of the fresh account: four named "alpha", three "beta"; SIDs by name."""
    services = fresh_account_client.notify.v1.services
    named: dict[str, list[str]] = {"alpha": [], "beta": []}
    for number in range(7):
        name = "alpha" if number % 2 == 0 else "beta"
        named[name].append(services.create(friendly_name=name).sid)
    yield named
    for sid in named["alpha"] + named["beta"]:
        delete_quietly(fresh_account_client, sid)


def sids_of(page: Any) -> list[str]:
    return [service.sid for service in page]


def test_given_seven_services_when_paged_by_three_then_pages_of_3_3_1_cover_each_once(
    fresh_account_client, seven
):
    services = fresh_account_client.notify.v1.services

    first = services.page(page_size=3)
    second = first.next_page()
    third = second.next_page()

    pages = [sids_of(first), sids_of(second), sids_of(third)]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(sid for page in pages for sid in page) == sorted(seven["alpha"] + seven["beta"])
    assert third.next_page() is None
    assert sids_of(third.previous_page()) == pages[1]
    assert first.previous_page() is None


def test_given_seven_services_when_streamed_by_pages_of_2_then_each_once(
    fresh_account_client, seven
):
    services = fresh_account_client.notify.v1.services

    streamed = [service.sid for service in services.stream(page_size=2)]

    assert sorted(streamed) == sorted(seven["alpha"] + seven["beta"])


def test_given_services_of_two_names_when_listed_by_friendly_name_then_only_that_name_on_every_page(
    fresh_account_client, seven
):
    services = fresh_account_client.notify.v1.services

    first = services.page(friendly_name="alpha", page_size=2)
    second = first.next_page()

    assert "FriendlyName=alpha" in first.next_page_url
    pages = [sids_of(first), sids_of(second)]  # a page can be iterated once
    assert [len(page) for page in pages] == [2, 2]
    assert sorted(pages[0] + pages[1]) == sorted(seven["alpha"])
    assert second.next_page() is None
    betas = services.list(friendly_name="beta", page_size=1)
    assert sorted(sids_of(betas)) == sorted(seven["beta"])
    assert services.list(friendly_name="gamma") == []
    assert {service.friendly_name for service in services.list(friendly_name="beta")} == {"beta"}


def test_given_services_when_listed_with_limit_then_that_many_distinct_ones(
    fresh_account_client, seven
):
    listed = [service.sid for service in fresh_account_client.notify.v1.services.list(limit=5)]

    assert len(set(listed)) == len(listed) == 5
    assert set(listed) <= set(seven["alpha"] + seven["beta"])


# -- delete --------------------------------------------------------------------------------


def test_given_a_service_when_deleted_then_204_and_it_is_gone_from_fetch_list_and_update(services):
    name = f"doomed {secrets.token_hex(4)}"
    doomed = services.create(friendly_name=name)
    kept = services.create(friendly_name=name)

    assert services(doomed.sid).delete() is True

    assert_not_found(services(doomed.sid).fetch)
    assert_not_found(lambda: services(doomed.sid).update(friendly_name="back"))
    assert [service.sid for service in services.list(friendly_name=name)] == [kept.sid]
    assert services(kept.sid).fetch().friendly_name == name


def test_given_a_deleted_service_when_deleted_again_then_404(services):
    sid = services.create(friendly_name="twice").sid
    assert services(sid).delete() is True

    with pytest.raises(TwilioRestException) as caught:
        services(sid).delete()

    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert caught.value.method == "DELETE"
    assert f"/Services/{sid} was not found" in caught.value.msg


@pytest.mark.parametrize("sid", ["IS123", "not-a-service", "IS" + "g" * 32, "BS" + "0" * 32])
def test_given_a_malformed_service_sid_when_fetched_updated_or_deleted_then_404(services, sid):
    assert_not_found(services(sid).fetch)
    assert_not_found(lambda: services(sid).update(friendly_name="x"))
    assert_not_found(services(sid).delete)


# -- what bindings take from their Service -------------------------------------------------


def test_given_service_default_versions_when_bindings_are_created_then_each_push_type_takes_its_own(
    services,
):
    service = services.create(
        default_apn_notification_protocol_version="4",
        default_fcm_notification_protocol_version="5",
    )
    bindings = services(service.sid).bindings

    apn = bindings.create(identity="alice", binding_type="apn", address="apn-1")
    fcm = bindings.create(identity="alice", binding_type="fcm", address="fcm-1")
    gcm = bindings.create(identity="alice", binding_type="gcm", address="gcm-1")
    sms = bindings.create(identity="alice", binding_type="sms", address="+15551230077")

    created = (apn, fcm, gcm, sms)
    assert [binding.notification_protocol_version for binding in created] == ["4", "5", "3", None]
    fetched = [bindings(binding.sid).fetch() for binding in created]
    assert [binding.notification_protocol_version for binding in fetched] == ["4", "5", "3", None]


def test_given_service_default_versions_when_a_binding_names_its_own_then_its_own_wins(services):
    service = services.create(
        default_apn_notification_protocol_version="4",
        default_fcm_notification_protocol_version="5",
        default_gcm_notification_protocol_version="6",
    )
    bindings = services(service.sid).bindings

    created = [
        bindings.create(
            identity="bob",
            binding_type=kind,
            address=f"{kind}-own",
            notification_protocol_version="9",
        )
        for kind in ("apn", "fcm", "gcm")
    ]

    assert [binding.notification_protocol_version for binding in created] == ["9", "9", "9"]


def test_given_a_service_whose_default_is_updated_when_a_binding_is_created_then_the_new_default(
    services,
):
    service = services.create(default_gcm_notification_protocol_version="4")
    bindings = services(service.sid).bindings
    before = bindings.create(identity="carol", binding_type="gcm", address="gcm-before")

    services(service.sid).update(default_gcm_notification_protocol_version="8")
    after = bindings.create(identity="carol", binding_type="gcm", address="gcm-after")

    assert before.notification_protocol_version == "4"
    assert bindings(before.sid).fetch().notification_protocol_version == "4"  # kept as created
    assert after.notification_protocol_version == "8"
