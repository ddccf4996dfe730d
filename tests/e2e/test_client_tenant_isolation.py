"""Tenant isolation: to another account, a Service and its bindings do not exist. Whatever it
tries is Twilio's 404 (20404), word for word what a Service that never existed gets, never a
403 and never data; and the owner's data is unchanged afterwards."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException

from tests.e2e.support import client_for, delete_quietly


@dataclass(frozen=True)
class Owned:
    """A Service of the first account, with two bindings, as the owner sees them."""

    service_sid: str
    friendly_name: str
    binding_sids: tuple[str, ...]


def service_fields(service: Any) -> dict[str, Any]:
    names = (
        "sid", "account_sid", "friendly_name", "date_created", "date_updated",
        "apn_credential_sid", "gcm_credential_sid", "fcm_credential_sid",
        "messaging_service_sid", "default_apn_notification_protocol_version",
        "default_gcm_notification_protocol_version", "default_fcm_notification_protocol_version",
        "log_enabled", "delivery_callback_url", "delivery_callback_enabled", "url", "links",
    )  # fmt: skip
    return {name: getattr(service, name) for name in names}


def binding_fields(binding: Any) -> dict[str, Any]:
    names = (
        "sid", "account_sid", "service_sid", "identity", "binding_type", "address", "tags",
        "credential_sid", "notification_protocol_version", "date_created", "date_updated",
    )  # fmt: skip
    return {name: getattr(binding, name) for name in names}


@pytest.fixture
def owned(twilio_client: Any, credentials: dict[str, str]) -> Iterator[Owned]:
    name = f"owned {secrets.token_hex(4)}"
    service = twilio_client.notify.v1.services.create(
        friendly_name=name,
        apn_credential_sid=credentials["apn"],
        default_apn_notification_protocol_version="4",
    )
    bindings = twilio_client.notify.v1.services(service.sid).bindings
    created = (
        bindings.create(identity="alice", binding_type="apn", address="apn-owned", tag=["vip"]),
        bindings.create(identity="alice", binding_type="sms", address="+15551230099"),
    )
    yield Owned(service.sid, name, tuple(binding.sid for binding in created))
    delete_quietly(twilio_client, service.sid)


@pytest.fixture
def owner_view(twilio_client: Any, owned: Owned) -> Callable[[], dict[str, Any]]:
    """Everything the owner can see of its Service, to compare before and after."""

    def view() -> dict[str, Any]:
        services = twilio_client.notify.v1.services
        bindings = services(owned.service_sid).bindings
        return {
            "service": service_fields(services(owned.service_sid).fetch()),
            "listed": [service.sid for service in services.list(friendly_name=owned.friendly_name)],
            "bindings": [binding_fields(binding) for binding in bindings.list()],
            "fetched": [binding_fields(bindings(sid).fetch()) for sid in owned.binding_sids],
        }

    return view


def not_found(attempt: Callable[[], Any]) -> tuple[int, int, str]:
    """(status, code, message) of the TwilioRestException that `attempt` raises."""
    with pytest.raises(TwilioRestException) as caught:
        attempt()
    return caught.value.status, caught.value.code, caught.value.msg


def page_not_found(attempt: Callable[[], Any]) -> tuple[int, int, str]:
    """The same for a list, whose errors the client does not parse."""
    with pytest.raises(TwilioException) as caught:
        attempt()
    response = caught.value.args[1]
    body = json.loads(response.text)
    return response.status_code, body["code"], body["message"]


def as_if_absent(outcome: tuple[int, int, str], sid: str, absent: tuple[int, int, str]) -> None:
    """`outcome` is a 404 (20404), the very one a never-existing Service gets."""
    status, code, message = outcome
    assert (status, code) == (404, 20404)
    absent_status, absent_code, absent_message = absent
    assert (absent_status, absent_code) == (404, 20404)
    assert message == absent_message.replace(NEVER, sid)


NEVER = "IS" + "0123456789abcdef" * 2  # a Service SID nobody has


def test_given_a_service_of_another_account_when_fetched_updated_or_deleted_then_404_as_if_absent(
    other_client, owned, owner_view
):
    before = owner_view()
    theirs = other_client.notify.v1.services(owned.service_sid)
    never = other_client.notify.v1.services(NEVER)

    as_if_absent(not_found(theirs.fetch), owned.service_sid, not_found(never.fetch))
    as_if_absent(
        not_found(lambda: theirs.update(friendly_name="hijacked", log_enabled=False)),
        owned.service_sid,
        not_found(lambda: never.update(friendly_name="hijacked", log_enabled=False)),
    )
    as_if_absent(not_found(theirs.delete), owned.service_sid, not_found(never.delete))

    assert owner_view() == before


def test_given_a_service_of_another_account_when_its_bindings_are_used_then_404_as_if_absent(
    other_client, owned, owner_view
):
    before = owner_view()
    theirs = other_client.notify.v1.services(owned.service_sid).bindings
    never = other_client.notify.v1.services(NEVER).bindings
    apn_sid = owned.binding_sids[0]
    # The very address of the owner's binding: were it let through, it would replace that one.
    same_address = {"identity": "mallory", "binding_type": "apn", "address": "apn-owned"}

    as_if_absent(
        not_found(lambda: theirs.create(**same_address)),
        owned.service_sid,
        not_found(lambda: never.create(**same_address)),
    )
    as_if_absent(
        not_found(theirs(apn_sid).fetch), owned.service_sid, not_found(never(apn_sid).fetch)
    )
    as_if_absent(page_not_found(theirs.list), owned.service_sid, page_not_found(never.list))
    as_if_absent(
        page_not_found(lambda: theirs.list(identity=["alice"], tag=["vip"])),
        owned.service_sid,
        page_not_found(lambda: never.list(identity=["alice"], tag=["vip"])),
    )
    as_if_absent(
        not_found(theirs(apn_sid).delete), owned.service_sid, not_found(never(apn_sid).delete)
    )

    assert owner_view() == before


def test_given_services_of_two_accounts_when_each_lists_then_each_sees_only_its_own(
    twilio_client, other_client, other_account, owned
):
    mine = other_client.notify.v1.services.create(friendly_name=owned.friendly_name)
    try:
        listed = other_client.notify.v1.services.list(page_size=1000)
        assert mine.sid in {service.sid for service in listed}
        assert {service.account_sid for service in listed} == {other_account.account_sid}
        assert owned.service_sid not in {service.sid for service in listed}
        # The same friendly name in both accounts: each account finds its own only.
        same_name = other_client.notify.v1.services.list(friendly_name=owned.friendly_name)
        assert [service.sid for service in same_name] == [mine.sid]
        first_accounts = twilio_client.notify.v1.services.list(friendly_name=owned.friendly_name)
        assert [service.sid for service in first_accounts] == [owned.service_sid]
    finally:
        delete_quietly(other_client, mine.sid)


def test_given_an_api_key_of_another_account_when_it_fetches_a_service_then_404(
    local_api, admin, other_account, owned, owner_view
):
    key = admin.create_key(other_account.account_sid)
    services = client_for(local_api.url, key).notify.v1.services
    before = owner_view()

    status, code, _ = not_found(services(owned.service_sid).fetch)
    assert (status, code) == (404, 20404)
    status, code, _ = not_found(services(owned.service_sid).bindings(owned.binding_sids[0]).fetch)
    assert (status, code) == (404, 20404)
    assert owned.service_sid not in {service.sid for service in services.list(page_size=1000)}

    assert owner_view() == before
