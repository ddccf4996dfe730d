"""Nothing the local API writes - the functions' Powertools JSON at DEBUG, with
POWERTOOLS_LOGGER_LOG_EVENT asking for every event, its own request log, and anything else on
its stdout or stderr - holds an identity, an address, a tag, an auth token, an API key secret,
a Basic header value, a page token (or the key that signs them) or a Credential's secrets (a
certificate, a private key, a service account, an auth token, or a line of any of them), over a
whole scenario with the official client: accounts and API keys from the admin CLI, Credentials
created, updated, refused and deleted, Services, bindings of every type (naming real
Credentials), lists and pages, a replace, deletes, Users and an erasure, a Service's deletion
and purge, refused input, paths and a malformed request line holding an identity, and failed
logins with wrong secrets.

The one line that prints secrets on purpose is the start-up banner of `make run`: it shows the
developer the development accounts' auth tokens (README), and nothing after it may repeat them.
"""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import quote, urlsplit

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from local_api.runtime import secretsmanager_client
from tests.e2e.support import Admin, client_for, running_local_api
from tests.log_privacy import Unloggable, distinctive, messenger_id, phone_number
from tests.providers.material import (
    apns_certificate_form,
    credential_form,
    rsa_key,
    service_account_json,
)

PURGE_SECONDS = 60
# The banner's lines that show a development account's token (local_api.__main__.announce).
_BANNER_SECRET_LINE = re.compile(r"^(account AC[0-9a-f]{32} auth token |try: curl -u AC)")
# A request line as the local API logs it: client, method, route key, status.
_REQUEST_LINE = re.compile(r" local_api 127\.0\.0\.1 ([A-Z]+ (\$default|/\S*)|-) \d{3}$")


def _raw_request_line(url: str, request_line: str) -> bytes:
    """Send one raw request line (http.server refuses a malformed one); what came back."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(request_line.encode() + b"\r\n\r\n")
        return connection.recv(65536)


def _page_token_secret(lines: list[str]) -> str:
    """The page-token secret the server made in its embedded moto (where its banner says)."""
    (endpoint,) = {
        m[1] for line in lines if (m := re.search(r"SQS at (http://[0-9.]+:[0-9]+)", line))
    }
    secret = secretsmanager_client(endpoint).get_secret_value(SecretId="PageTokenSecret")
    return str(secret["SecretString"])


def _unloggable_material(unloggable: Unloggable, form: dict[str, str]) -> dict[str, str]:
    """A Credential's form, each secret of it unloggable: whole, and each line of a PEM body
    (a log that cut a key into lines would show it still)."""
    for field in ("Certificate", "PrivateKey", "Secret"):
        if field in form:
            unloggable.secret(form[field])
            body = form[field].replace("\\n", "\n").splitlines()
            for line in body:
                if len(line) >= 40 and not line.startswith("-----"):
                    unloggable.secret(line)
    return form


def _create_credential(client: object, form: dict[str, str]) -> str:
    created = client.notify.v1.credentials.create(  # type: ignore[attr-defined]
        type=form["Type"],
        friendly_name=f"privacy {form['Type']}",
        certificate=form.get("Certificate"),
        private_key=form.get("PrivateKey"),
        api_key=form.get("ApiKey"),
        secret=form.get("Secret"),
    )
    return str(created.sid)


def _wait_for(lines: list[str], text: str) -> None:
    deadline = time.monotonic() + PURGE_SECONDS
    while not any(text in line for line in lines):
        assert time.monotonic() < deadline, f"never logged: {text}"
        time.sleep(0.2)


def test_given_a_whole_scenario_when_the_local_api_logs_it_then_no_line_holds_personal_data_or_a_secret():  # noqa: E501
    unloggable = Unloggable()
    lines: list[str] = []
    with running_local_api(
        quiet=False,
        output=lines,
        POWERTOOLS_LOG_LEVEL="DEBUG",
        POWERTOOLS_LOGGER_LOG_EVENT="true",
        AUTH_CACHE_SECONDS="0",
    ) as api:
        admin = Admin(api.dynamodb_url)
        unloggable.secret(_page_token_secret(lines))
        account = admin.create_account()
        key = admin.create_key(account.account_sid)
        dev_tokens = {api.account.password, api.other_account.password}
        for credentials in (account, key, api.account):
            unloggable.authorization(credentials.username, credentials.password)
        client = client_for(api.url, account)
        by_key = client_for(api.url, key)
        by_dev_account = client_for(api.url, api.account)

        # Credentials: their secrets on create, on update, on a refused create.
        forms = {
            "apn": {"Type": "apn", **apns_certificate_form()},
            "fcm": {"Type": "fcm", "Secret": service_account_json(rsa_key("privacy e2e"))},
            "sms": credential_form("sms"),
        }
        made = {
            kind: _create_credential(client, _unloggable_material(unloggable, form))
            for kind, form in forms.items()
        }
        renewed = _unloggable_material(
            unloggable, {"Secret": service_account_json(rsa_key("privacy e2e, renewed"))}
        )
        client.notify.v1.credentials(made["fcm"]).update(secret=renewed["Secret"])
        mismatched = {"Type": "apn", **apns_certificate_form()}
        mismatched["PrivateKey"] = forms["apn"]["PrivateKey"]  # another certificate's key
        with pytest.raises(TwilioRestException) as refused_credential:
            _create_credential(client, _unloggable_material(unloggable, mismatched))
        assert refused_credential.value.status == 400
        assert sorted(c.sid for c in client.notify.v1.credentials.list()) == sorted(made.values())

        service = client.notify.v1.services.create(friendly_name="privacy")
        client.notify.v1.services(service.sid).update(log_enabled=False)
        assert client.notify.v1.services(service.sid).fetch().sid == service.sid
        assert [s.sid for s in client.notify.v1.services.list(friendly_name="privacy")]
        assert by_dev_account.notify.v1.services.list() == []
        bindings = client.notify.v1.services(service.sid).bindings

        alice, bob = unloggable.identity("alice"), unloggable.identity("bob")
        tag = unloggable.tag()
        addresses = {
            "apn": unloggable.address(distinctive("apn-device-token")),
            "fcm": unloggable.address(distinctive("fcm-registration-token")),
            "gcm": unloggable.address(distinctive("gcm-registration-token")),
            "sms": unloggable.address(phone_number()),
            "facebook-messenger": unloggable.address(messenger_id()),
            "alexa": unloggable.address(distinctive("alexa-user-id")),
        }
        naming = {"apn": made["apn"], "fcm": made["fcm"], "gcm": made["fcm"]}  # real ones
        created = [
            bindings.create(
                identity=alice,
                binding_type=kind,
                address=address,
                tag=[tag, unloggable.tag()],
                credential_sid=naming.get(kind),
            )
            for kind, address in addresses.items()
        ]
        # The same address for another identity: a replace.
        bindings.create(identity=bob, binding_type="apn", address=addresses["apn"], tag=[tag])
        with pytest.raises(TwilioRestException) as refused:
            bindings.create(
                identity=alice, binding_type="sms", address=unloggable.address(distinctive("x"))
            )
        assert refused.value.status == 400

        # Lists by identity and by tag, a page at a time (the client follows next_page_url).
        assert len(bindings.list(identity=[alice, bob])) == len(addresses)
        streamed = list(bindings.stream(tag=[tag], page_size=1))
        assert len(streamed) == len(addresses)
        page = bindings.page(tag=[tag], page_size=1)
        next_page = page.next_page_url
        token = re.search(r"PageToken=([^&]+)", next_page)
        assert token is not None, next_page
        unloggable.secret(token[1])
        by_key.notify.v1.services(service.sid).bindings(created[1].sid).fetch()
        assert bindings(created[2].sid).delete()

        # Paths holding an identity: the Users resource, and a path no route has; a malformed
        # request line holding one; a page of Users, whose token holds one.
        service_url = f"{api.url}/v1/Services/{service.sid}"
        users = f"{service_url}/Users/{quote(alice, safe='')}"
        with requests.Session() as http:
            http.trust_env = False
            http.auth = (account.username, account.password)
            assert http.get(users).status_code == 200
            assert http.get(f"{users}/Bindings", params={"Tag": tag}).status_code == 200
            assert http.get(f"{users}/Nothing").status_code == 404
            users_page = http.get(f"{service_url}/Users", params={"PageSize": 1}).json()
            user_token = re.search(r"PageToken=([^&]+)", users_page["meta"]["next_page_url"])
            assert user_token is not None
            unloggable.secret(user_token[1])
            assert http.get(users_page["meta"]["next_page_url"]).status_code == 200
            bob_by_address = {"Address": addresses["apn"]}
            assert http.get(f"{service_url}/Bindings", params=bob_by_address).status_code == 200
            assert http.delete(users).status_code == 204  # alice erased
            assert http.delete(users).status_code == 404
            http.auth = None
            # Failed logins with wrong secrets, and headers that are no Basic credentials.
            wrong = [
                (account.username, distinctive("wrong-token")),
                (key.username, distinctive("wrong-secret")),
                (api.other_account.username, distinctive("wrong-dev-token")),
                ("AC" + "0" * 32, distinctive("unknown-account-token")),
            ]
            for username, password in wrong:
                header = unloggable.authorization(username, password)
                refused_login = http.get(
                    f"{api.url}/v1/Services", headers={"Authorization": header}
                )
                assert refused_login.status_code == 401
            for header in (f"Bearer {distinctive('bearer')}", f"Basic {distinctive('x')}"):
                unloggable.secret(header.split()[1])
                refused_login = http.get(
                    f"{api.url}/v1/Services", headers={"Authorization": header}
                )
                assert refused_login.status_code == 401
        answer = _raw_request_line(api.url, f"GET /v1/Services?Identity={bob} HTTP/{alice}")
        assert b"400" in answer

        # The Service's deletion: its bindings are purged in the background.
        assert client.notify.v1.services(service.sid).delete()
        assert client.notify.v1.credentials(made["fcm"]).delete()
        _wait_for(lines, '"Service purged"')

    banner_lines = [line for line in lines[:8] if _BANNER_SECRET_LINE.match(line)]
    assert len(banner_lines) == 3  # both accounts, and the curl line
    after_banner = "".join(line for line in lines if line not in banner_lines)
    assert unloggable.leaks(after_banner) == {}
    assert [token for token in dev_tokens if token in after_banner] == []
    # The scenario was logged, requests and all: an empty log would have passed the checks above.
    assert after_banner.count('"Binding stored"') == len(addresses) + 1
    assert '"Credentials refused"' in after_banner
    assert after_banner.count('"Credential created"') == len(made)
    assert '"Credential updated"' in after_banner
    assert '"Credential deleted"' in after_banner
    assert '"User erased"' in after_banner
    assert '"Service purged"' in after_banner
    request_lines = [line for line in lines if _REQUEST_LINE.search(line.rstrip("\n"))]
    assert len(request_lines) >= 30, "".join(lines[-20:])
    assert any("POST /v1/Services/{ServiceSid}/Bindings 201" in line for line in request_lines)
    assert any("GET $default 404" in line for line in request_lines)
    assert any("DELETE /v1/Services/{ServiceSid}/Users/{Identity} 204" in line for line in lines)
    assert any("[redacted]" in line for line in lines)
