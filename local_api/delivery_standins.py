"""The stand-ins `make run` delivers to: APNs, FCM HTTP v1 (with its OAuth token endpoint) and
Twilio's Messages API, each on a free loopback port, and the settings that point the delivering
code at them (APNS_ENDPOINT, APNS_SANDBOX_ENDPOINT, APNS_CA_FILE, FCM_ENDPOINT,
FCM_TOKEN_ENDPOINT, TWILIO_API_ENDPOINT, and ALLOW_LOCAL_CALLBACKS so that delivery callbacks
may go to http://127.0.0.1).

So that a credential can be created and used at once, development credentials are made at
start and the stand-ins accept them: an APNs token key (a `.p8` file, with its Key ID, Team ID
and topic) and a Google service account (a JSON file), both written to `directory`; the Twilio
stand-in accepts each development account's SID and auth token (an `sms` credential's ApiKey
and Secret).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from local_api.accounts import DevAccount
from local_api.standins.apns import ApnsStandIn
from local_api.standins.fcm import FcmStandIn
from local_api.standins.twilio_messages import TwilioMessagesStandIn

APNS_KEY_ID = "DEVKEY0001"
APNS_TEAM_ID = "DEVTEAM001"
APNS_TOPIC = "com.example.notify"
FCM_PROJECT = "notify-bindings-dev"
FCM_CLIENT_EMAIL = f"sender@{FCM_PROJECT}.iam.gserviceaccount.com"
APNS_KEY_FILE = "dev-apns-key.p8"
SERVICE_ACCOUNT_FILE = "dev-service-account.json"


@dataclass
class DeliveryStandIns:
    apns: ApnsStandIn
    fcm: FcmStandIn
    twilio: TwilioMessagesStandIn
    apns_key_file: Path
    service_account_file: Path

    def settings(self) -> dict[str, str]:
        """The delivering code's settings that point it at the stand-ins."""
        return {
            "APNS_ENDPOINT": self.apns.base_url,
            "APNS_SANDBOX_ENDPOINT": self.apns.base_url,
            "APNS_CA_FILE": self.apns.ca_file,
            "FCM_ENDPOINT": self.fcm.base_url,
            "FCM_TOKEN_ENDPOINT": self.fcm.token_url,
            "TWILIO_API_ENDPOINT": self.twilio.base_url,
            "ALLOW_LOCAL_CALLBACKS": "true",
        }

    def accept_accounts(self, accounts: Iterable[DevAccount]) -> None:
        for account in accounts:
            self.twilio.register_account(account.sid, account.auth_token)

    def lines(self) -> list[str]:
        """What `make run` prints of them: a line per stand-in, naming it."""
        return [
            f"APNs stand-in on {self.apns.base_url} (GET /deliveries; CA {self.apns.ca_file}); "
            f"it accepts the token key {self.apns_key_file} with ApnKeyId {APNS_KEY_ID}, "
            f"ApnTeamId {APNS_TEAM_ID}, ApnTopic {APNS_TOPIC}",
            f"FCM stand-in on {self.fcm.base_url} (GET /deliveries; OAuth at "
            f"{self.fcm.token_url}); it accepts the service account {self.service_account_file}",
            f"Twilio Messages stand-in on {self.twilio.base_url} (GET /deliveries); it accepts "
            "the accounts above (ApiKey the SID, Secret the auth token)",
        ]


@contextmanager
def delivery_standins(directory: Path) -> Iterator[DeliveryStandIns]:
    """The three stand-ins, started; the development credentials written to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    apns_key = ec.generate_private_key(ec.SECP256R1())
    google_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    apns_key_file = _write_private(directory / APNS_KEY_FILE, _pem(apns_key))
    service_account_file = _write_private(
        directory / SERVICE_ACCOUNT_FILE, _service_account(google_key).encode()
    )
    with ExitStack() as stack:
        apns = stack.enter_context(ApnsStandIn())
        apns.register_token_key(APNS_KEY_ID, APNS_TEAM_ID, apns_key.public_key(), [APNS_TOPIC])
        fcm = stack.enter_context(FcmStandIn())
        fcm.register_service_account(FCM_CLIENT_EMAIL, FCM_PROJECT, google_key.public_key())
        twilio = stack.enter_context(TwilioMessagesStandIn())
        try:
            yield DeliveryStandIns(apns, fcm, twilio, apns_key_file, service_account_file)
        finally:
            apns_key_file.unlink(missing_ok=True)
            service_account_file.unlink(missing_ok=True)


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _service_account(key: rsa.RSAPrivateKey) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "project_id": FCM_PROJECT,
            "private_key_id": "0" * 40,
            "private_key": _pem(key).decode(),
            "client_email": FCM_CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "token_uri": "https://oauth2.googleapis.com/token",  # nosec B105 - a URL, no secret
        },
        indent=2,
    )


def _write_private(path: Path, content: bytes) -> Path:
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(content)
    return path
