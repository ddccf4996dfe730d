"""`make run`'s delivery stand-ins: where they are, what they accept, and the banner lines
naming them."""

from __future__ import annotations

import json
import ssl
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from local_api.accounts import DevAccount
from local_api.delivery_standins import (
    APNS_KEY_ID,
    APNS_TEAM_ID,
    APNS_TOPIC,
    delivery_standins,
)
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import DeliveryStatus, Notification, Recipient
from notify_bindings.operations.sending import Credential, Endpoints, Senders
from notify_bindings.platform.config import Settings
from notify_bindings.providers.credentials import (
    parse_apns_token_key,
    parse_service_account,
    parse_twilio_account,
)
from tests.e2e.support import running_local_api
from tests.factories import sample_service

ACCOUNT = DevAccount("AC" + "1" * 32, "2" * 32)
REQUIRED = {
    "BINDINGS_TABLE": "Bindings",
    "BINDING_INDEX_TABLE": "Index",
    "SERVICES_TABLE": "Services",
    "PAGE_TOKEN_SECRET": "s" * 16,
}


def deliveries(base_url: str, ca_file: str | None = None) -> list[dict[str, object]]:
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    with urllib.request.urlopen(f"{base_url}/deliveries", context=context) as answer:
        return list(json.load(answer)["deliveries"])


def test_the_settings_point_the_senders_at_the_standins_which_accept_the_dev_credentials(
    tmp_path: Path,
):
    with delivery_standins(tmp_path) as standins:
        standins.accept_accounts([ACCOUNT])
        settings = Settings.from_environ({**REQUIRED, **standins.settings()})
        senders = Senders(Endpoints.from_settings(settings))
        apns_key = parse_apns_token_key(
            standins.apns_key_file.read_text(),
            key_id=APNS_KEY_ID,
            team_id=APNS_TEAM_ID,
            topic=APNS_TOPIC,
        )
        account = parse_service_account(standins.service_account_file.read_text())
        twilio = parse_twilio_account(ACCOUNT.sid, auth_token=ACCOUNT.auth_token)
        notification = Notification(
            "NT" + "0" * 32, ACCOUNT.sid, "IS" + "0" * 32, datetime.now(UTC), body="Hi"
        )
        service = sample_service(messaging_service_sid="MG" + "3" * 32)
        recipients: list[tuple[BindingType, str, Credential]] = [
            (BindingType.APN, "00fe" * 16, apns_key),
            (BindingType.FCM, "device-1", account),
            (BindingType.SMS, "+15005550006", twilio),
        ]
        sent = [
            senders.send(notification, service, Recipient(kind, address, None, "CR"), credential)
            for kind, address, credential in recipients
        ]
        senders.close()

        assert [delivery.status for delivery in sent] == [DeliveryStatus.SENT] * 3
        assert settings.allow_local_callbacks
        assert len(deliveries(standins.apns.base_url, standins.apns.ca_file)) == 1
        assert len(deliveries(standins.fcm.base_url)) == 1
        assert len(deliveries(standins.twilio.base_url)) == 1
    assert list(tmp_path.iterdir()) == []  # the development keys go with them


def test_make_run_prints_each_standins_base_url_on_a_line_naming_it():
    output: list[str] = []
    with running_local_api(output=output):
        pass

    named = {
        name: [line for line in output if line.startswith(f"{name} stand-in on http")]
        for name in ("APNs", "FCM", "Twilio Messages")
    }
    assert all(len(lines) == 1 for lines in named.values()), output
    assert named["APNs"][0].startswith("APNs stand-in on https://127.0.0.1:")
