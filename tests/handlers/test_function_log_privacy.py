"""No log line of the functions holds an identity, an address, a tag or a secret: every Python
logger captured at DEBUG (the AWS SDK's included, which would write each request's items) and
the Powertools logger's own JSON stream, over a whole scenario run through the template's
functions - the authorizer with good and wrong credentials, Services, bindings of every type,
lists and pages, a replace, deletes, refused input, our Users, lookup by address, eviction and
erasure, a failure whose message echoes input, and a Service's deletion and purge.
tests/e2e/test_client_log_privacy.py does the same through the local API."""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from local_api.event_sources import SqsPoller
from local_api.events import authorizer_event, http_api_event, sqs_event
from local_api.runtime import LocalFunctions, LocalQueue, sqs_client
from notify_bindings import dependencies
from notify_bindings.dal.accounts import AccountStore
from notify_bindings.platform.observability import logger
from notify_bindings.platform.sids import new_sid
from tests.conftest import Invoker, new_account
from tests.factories import account_store
from tests.handlers.helpers import (
    CREATE,
    DELETE,
    DELETE_USER,
    FETCH,
    FETCH_USER,
    LIST,
    LIST_USER_BINDINGS,
    LIST_USERS,
    bindings_path,
)
from tests.handlers.test_services import deliver
from tests.log_privacy import Unloggable, distinctive, messenger_id, phone_number
from tests.providers.material import (
    apns_certificate_form,
    credential_form,
    service_account_json,
)

AUTHORIZER = "AuthorizerFunction"
CREATE_SERVICE, UPDATE_SERVICE = "CreateServiceFunction", "UpdateServiceFunction"
DELETE_SERVICE = "DeleteServiceFunction"
REPORT_DEAD_TOKEN, REPORT_DEAD_TOKENS = "ReportDeadTokenFunction", "ReportDeadTokensFunction"


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Everything logged while the test runs: every logger that propagates, at DEBUG, and the
    Powertools logger (which writes its JSON to a stream of its own), at DEBUG too."""
    caplog.set_level(logging.DEBUG)
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous_stream, previous_level = handler.setStream(stream), logger.log_level
    logger.setLevel(logging.DEBUG)

    def text() -> str:
        records = [f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records]
        return stream.getvalue() + "\n".join(records)

    try:
        yield text
    finally:
        handler.setStream(previous_stream)
        logger.setLevel(previous_level)


class ExplodingStore:
    """A binding store that fails the way no domain error does, saying what it was given."""

    def put(self, account_sid: str, service_sid: str, address: str, *_: Any) -> None:
        try:
            raise KeyError(f"no room for {address}")
        except KeyError as error:
            raise RuntimeError(f"could not store {address}") from error

    def remove_dead_address(self, account_sid: str, service_sid: str, address: str, **_: Any):
        raise RuntimeError(f"could not remove {address}")


def _exploding_authenticate(store: AccountStore, username: str, password: str) -> str | None:
    raise RuntimeError(f"could not check {username}:{password}")


def _authorize(functions: LocalFunctions, authorization: str) -> dict[str, Any]:
    (route,) = functions.functions[LIST].routes
    path = bindings_path("IS" + "0" * 32)
    event = http_api_event(route, path, headers={"Authorization": authorization})
    return functions.invoke(AUTHORIZER, authorizer_event(event))


def test_given_a_whole_scenario_when_every_log_line_is_read_then_none_holds_personal_data_or_a_secret(  # noqa: E501
    functions: LocalFunctions,
    aws: dict[str, LocalQueue],
    log_lines: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
):
    unloggable = Unloggable()
    unloggable.secret(dependencies.page_token_secret())
    credentials = new_account()
    unloggable.secret(credentials.token)
    accounts = account_store()
    key, key_secret = accounts.create_api_key(credentials.sid)
    unloggable.secret(key_secret)

    # The authorizer: good credentials, and wrong ones of every kind.
    for username, password, proves in (
        (credentials.sid, credentials.token, True),
        (key.sid, key_secret, True),
        (credentials.sid, distinctive("wrong-token"), False),
        (key.sid, distinctive("wrong-secret"), False),
        (new_sid("AC"), distinctive("unknown-account-token"), False),
        (new_sid("SK"), distinctive("unknown-key-secret"), False),
        (distinctive("not-a-sid"), distinctive("any-password"), False),
    ):
        context = _authorize(functions, unloggable.authorization(username, password))["context"]
        assert ("accountSid" in context) is proves, username
    unloggable.secret(bearer := distinctive("bearer-token"))
    assert _authorize(functions, f"Bearer {bearer}")["context"] == {}
    # The authorizer failing in a way nobody foresaw: Lambda logs what it raises.
    monkeypatch.setattr(AccountStore, "authenticate", _exploding_authenticate)
    with pytest.raises(Exception) as raised:
        _authorize(functions, unloggable.authorization(new_sid("AC"), distinctive("token")))
    monkeypatch.undo()
    assert unloggable.leaks("".join(traceback.format_exception(raised.value))) == {}

    invoke = Invoker(functions, credentials.sid)
    # Credentials: their secrets on create, on a refused create, on update; in no answer either.
    for kind in ("apn", "apn-token", "fcm", "sms"):
        material = credential_form(kind)
        for field in ("Certificate", "PrivateKey", "Secret"):
            if field in material:
                unloggable.secret(material[field])
        made = invoke("CreateCredentialFunction", "/v1/Credentials", form=material)
        assert made.status == 201, made.body
        assert unloggable.leaks(made.body) == {}
        credential_sid = made.json()["sid"]
        fetched = invoke("FetchCredentialFunction", f"/v1/Credentials/{credential_sid}")
        assert unloggable.leaks(fetched.body) == {}
    key_json = unloggable.secret(service_account_json())
    changed = invoke(
        "UpdateCredentialFunction",
        f"/v1/Credentials/{credential_sid}",
        form={"Secret": key_json},
    )
    assert changed.status == 400  # an sms credential's Secret alone: incomplete, refused
    assert unloggable.leaks(changed.body) == {}
    bad_key = unloggable.secret(distinctive("not-a-pem-key"))
    refused_credential = invoke(
        "CreateCredentialFunction",
        "/v1/Credentials",
        form={"Type": "apn", **apns_certificate_form(), "PrivateKey": bad_key},
    )
    assert refused_credential.status == 400
    assert unloggable.leaks(refused_credential.body) == {}
    listed = invoke("ListCredentialsFunction", "/v1/Credentials")
    assert unloggable.leaks(listed.body) == {}

    created = invoke(CREATE_SERVICE, "/v1/Services", form={"FriendlyName": "privacy"})
    assert created.status == 201, created.body
    service = created.json()["sid"]
    assert invoke(UPDATE_SERVICE, f"/v1/Services/{service}", form={"LogEnabled": "false"}).status
    path = bindings_path(service)

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
    sids = []
    for binding_type, address in addresses.items():
        form = {"Identity": alice, "BindingType": binding_type, "Address": address}
        reply = invoke(CREATE, path, form={**form, "Tag": [tag, unloggable.tag()]})
        assert reply.status == 201, (binding_type, reply.body)
        sids.append(reply.json()["sid"])
    # The same address for another identity: a replace.
    moved = {"Identity": bob, "BindingType": "apn", "Address": addresses["apn"], "Tag": tag}
    assert invoke(CREATE, path, form=moved).status == 201
    # Refused input, echoing nothing into the logs either.
    for refused in (
        {"Identity": alice, "BindingType": "sms", "Address": unloggable.address(distinctive("x"))},
        {"Identity": alice, "BindingType": "apn", "Address": f"has space {unloggable.tag()}"},
        {"Identity": alice, "BindingType": unloggable.tag(), "Address": distinctive("a")},
        {"Identity": alice, "BindingType": "apn", "Address": "t", "Tag": unloggable.tag() * 9},
    ):
        assert invoke(CREATE, path, form=refused).status == 400, refused

    # Lists by identity, by tag, and page after page.
    assert invoke(LIST, path, query=[("Identity", alice), ("Identity", bob)]).status == 200
    listed = invoke(LIST, path, query={"Tag": tag, "PageSize": "1"})
    pages = 1
    while next_page := listed.json()["meta"]["next_page_url"]:
        query = parse_qsl(urlsplit(next_page).query)
        unloggable.secret(dict(query)["PageToken"])
        listed = invoke(LIST, path, query=query)
        assert listed.status == 200, listed.body
        pages += 1
    assert pages >= 6
    assert invoke(FETCH, f"{path}/{sids[1]}").status == 200
    assert invoke(DELETE, f"{path}/{sids[2]}").status == 204

    # Ours: a User, a page of Users and its token, a User's bindings, a lookup by address, an
    # identity at its limit in a Service that evicts, and an erasure.
    users = f"/v1/Services/{service}/Users"
    assert invoke(FETCH_USER, f"{users}/{quote(alice, safe='')}").status == 200
    first = invoke(LIST_USERS, users, query={"PageSize": "1"})
    query = parse_qsl(urlsplit(first.json()["meta"]["next_page_url"]).query)
    unloggable.secret(dict(query)["PageToken"])
    assert invoke(LIST_USERS, users, query=query).status == 200
    alices = f"{users}/{quote(alice, safe='')}/Bindings"
    assert invoke(LIST_USER_BINDINGS, alices, query={"Tag": tag}).status == 200
    assert invoke(LIST, path, query={"Address": addresses["sms"]}).json()["bindings"]
    evicting = {"IdentityBindingLimitPolicy": "evict_oldest"}
    assert invoke(UPDATE_SERVICE, f"/v1/Services/{service}", form=evicting).status == 200
    carol = unloggable.identity("carol")
    for number in range(21):
        address = unloggable.address(distinctive(f"carol-token-{number}"))
        form = {"Identity": carol, "BindingType": "fcm", "Address": address, "Tag": tag}
        assert invoke(CREATE, path, form=form).status == 201
    assert invoke(DELETE_USER, f"{users}/{quote(carol, safe='')}").status == 204

    # Ours: dead tokens, over HTTP (a binding's address, one no binding holds, a refused
    # report) and in bulk through the queue, as the local API's poller delivers it (a binding's
    # address, one malformed message and one for an unknown Service, both holding addresses).
    dead_tokens = f"/v1/Services/{service}/DeadTokens"
    reported = invoke(REPORT_DEAD_TOKEN, dead_tokens, form={"Address": addresses["fcm"]})
    assert reported.json()["removed"] is True
    unheld = {"Address": unloggable.address(distinctive("unheld-token"))}
    assert invoke(REPORT_DEAD_TOKEN, dead_tokens, form=unheld).json()["removed"] is False
    refused = {"Address": unloggable.address(distinctive("refused-token")), "Reason": tag}
    assert invoke(REPORT_DEAD_TOKEN, dead_tokens, form=refused).status == 400
    queue, sqs = aws["DeadTokenQueue"], sqs_client(None)
    for report in (
        {"account_sid": credentials.sid, "service_sid": service, "address": addresses["alexa"]},
        {"account_sid": credentials.sid, "address": unloggable.address(distinctive("no-sid"))},
        {"account_sid": credentials.sid, "service_sid": new_sid("IS"), "address": tag},
    ):
        sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(report))
    (source,) = functions.functions[REPORT_DEAD_TOKENS].sqs_sources
    while SqsPoller(functions, REPORT_DEAD_TOKENS, source, queue, sqs).poll_once():
        pass

    # A failure nobody foresaw, whose message holds the address it was given.
    monkeypatch.setattr(dependencies, "binding_store", ExplodingStore)
    echoed = unloggable.address(distinctive("echoed-address"))
    failed = invoke(CREATE, path, form={"Identity": alice, "BindingType": "apn", "Address": echoed})
    assert failed.status == 500
    report = {"account_sid": credentials.sid, "service_sid": service, "address": echoed}
    message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "MD5OfBody": "-"}
    batch = sqs_event([{**message, "Body": json.dumps(report)}], queue.arn)
    assert functions.invoke(REPORT_DEAD_TOKENS, batch)["batchItemFailures"]
    monkeypatch.undo()

    # The Service's deletion, and its purge through the queue.
    assert invoke(DELETE_SERVICE, f"/v1/Services/{service}").status == 204
    while deliver(functions, aws["ServicePurgeQueue"], timeout_seconds=60):
        pass

    text = log_lines()
    assert unloggable.leaks(text) == {}
    # The scenario was logged, at DEBUG: an empty log would have passed the check above.
    assert text.count('"Binding stored"') == len(addresses) + 1 + 21  # and carol's
    assert '"Credentials refused"' in text
    assert '"Service purged"' in text
    assert '"Oldest binding of the identity evicted"' in text
    assert '"User erased"' in text
    assert text.count('"Binding of a dead token removed"') == 2
    assert '"Dead token held by no binding"' in text
    assert text.count('"Dead token message dropped"') == 2
    assert '"Dead token message failed"' in text
    assert '"Request failed"' in text
    assert "builtins.RuntimeError" in text
    assert "builtins.KeyError" in text
    assert text.count('"Credentials not checked"') == 1
    assert " DEBUG " in text
