"""CreateBindingFunction: replace by address, identical re-create, the identity limit, defaults."""

from __future__ import annotations

import pytest

from notify_bindings.platform.sids import new_sid
from tests.factories import new_credential
from tests.handlers.helpers import CREATE, FETCH, LIST, bindings_path, create


def test_given_an_address_in_use_when_created_again_then_replaced_with_a_new_sid(
    invoke, service_sid
):
    old = create(invoke, service_sid, Identity="alice", Address="shared-token")

    new = create(invoke, service_sid, Identity="bob", Address="shared-token")

    assert new["sid"] != old["sid"]
    assert invoke(FETCH, f"{bindings_path(service_sid)}/{old['sid']}").status == 404
    listed = invoke(LIST, bindings_path(service_sid)).json()["bindings"]
    assert [(b["sid"], b["identity"]) for b in listed] == [(new["sid"], "bob")]
    assert (
        invoke(LIST, bindings_path(service_sid), query={"Identity": "alice"}).json()["bindings"]
        == []
    )


def test_given_an_identical_create_when_retried_then_the_same_binding_returns(invoke, service_sid):
    first = create(invoke, service_sid, Tag=["a", "b"])

    again = create(invoke, service_sid, Tag=["b", "a"])

    assert again == first


def test_given_a_changed_tag_set_when_created_then_it_is_a_replace(invoke, service_sid):
    first = create(invoke, service_sid, Tag=["a"])

    changed = create(invoke, service_sid, Tag=["a", "b"])

    assert changed["sid"] != first["sid"]
    assert changed["tags"] == ["a", "b"]


def test_given_twenty_bindings_of_an_identity_when_a_21st_is_created_then_400_naming_the_limit(
    invoke, service_sid
):
    for n in range(20):
        create(invoke, service_sid, Address=f"token-{n}")

    refused = invoke(
        CREATE,
        bindings_path(service_sid),
        form={"Identity": "alice", "BindingType": "apn", "Address": "token-20"},
    )

    assert refused.status == 400
    assert refused.json()["code"] == 20001
    assert "maximum of 20 Bindings" in refused.json()["message"]
    # Replacing one of the twenty in place is still allowed: the count does not grow.
    assert create(invoke, service_sid, Address="token-0", Tag=["new"])["tags"] == ["new"]


def test_given_an_sms_binding_then_no_protocol_version_and_no_credential(invoke, service_sid):
    binding = create(
        invoke,
        service_sid,
        BindingType="sms",
        Address="+15551230000",
        NotificationProtocolVersion="3",
        CredentialSid="CR" + "1" * 32,
        Endpoint="legacy-endpoint",
    )

    assert binding["notification_protocol_version"] is None
    assert binding["credential_sid"] is None
    assert binding["endpoint"] is None


def test_given_a_push_binding_then_protocol_version_and_credential_are_kept(
    invoke, service_sid, account
):
    credential = new_credential(account.sid, "fcm")
    binding = create(
        invoke,
        service_sid,
        BindingType="fcm",
        NotificationProtocolVersion="4",
        CredentialSid=credential,
    )

    assert binding["notification_protocol_version"] == "4"
    assert binding["credential_sid"] == credential


@pytest.mark.parametrize(
    ("binding_type", "kind"), [("apn", "fcm"), ("fcm", "apn"), ("gcm", "sms"), ("apn", None)]
)
def test_given_a_credential_that_is_not_the_accounts_or_does_not_fit_then_400_naming_it(
    invoke, service_sid, account, binding_type, kind
):
    credential = new_credential(account.sid, kind) if kind else new_credential(new_sid("AC"))
    form = {"BindingType": binding_type, "CredentialSid": credential}
    form |= {"Identity": "alice", "Address": "token-x"}

    reply = invoke(CREATE, bindings_path(service_sid), form=form)

    assert reply.status == 400
    assert reply.json()["code"] == 20001
    assert "CredentialSid" in reply.json()["message"]
    assert invoke(LIST, bindings_path(service_sid)).json()["bindings"] == []


def test_given_invalid_input_then_400_and_nothing_written(invoke, service_sid):
    for form in (
        {"Identity": "alice", "BindingType": "sms", "Address": "not-a-phone"},
        {"Identity": "", "BindingType": "apn", "Address": "t"},
        {"BindingType": "apn", "Address": "t"},
        {"Identity": "a", "BindingType": "apn", "Address": "t", "Tag": [str(n) for n in range(21)]},
    ):
        reply = invoke(CREATE, bindings_path(service_sid), form=form)

        assert reply.status == 400, form
        assert reply.json()["code"] == 20001
    assert invoke(LIST, bindings_path(service_sid)).json()["bindings"] == []


def test_given_unknown_parameters_then_they_are_ignored(invoke, service_sid):
    binding = create(invoke, service_sid, FriendlyName="ignored", Foo="bar")

    assert binding["identity"] == "alice"
