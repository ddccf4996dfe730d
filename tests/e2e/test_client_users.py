"""Our extensions, end to end against the local API: the Users resource and erasure, lookup by
address and the identity binding limit policy. twilio-python 9.13 has no Users (Twilio removed
them in 6.16), no `Address` list filter and no `IdentityBindingLimitPolicy`: those go as plain
HTTP, everything else through the official client."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from tests.e2e.support import Credentials


class Http:
    """Plain HTTP to the local API as the test's account."""

    def __init__(self, session: requests.Session, base_url: str, account: Credentials) -> None:
        self.session, self.base_url = session, base_url
        self.auth = (account.username, account.password)

    def get(self, url: str, **params: Any) -> requests.Response:
        return self.session.get(self._absolute(url), params=params, auth=self.auth, timeout=30)

    def delete(self, url: str) -> requests.Response:
        return self.session.delete(self._absolute(url), auth=self.auth, timeout=30)

    def post(self, url: str, form: dict[str, str]) -> requests.Response:
        return self.session.post(self._absolute(url), data=form, auth=self.auth, timeout=30)

    def _absolute(self, url: str) -> str:
        return url if url.startswith("http") else self.base_url + url


@pytest.fixture
def http(raw_http: requests.Session, local_api_url: str, account: Credentials) -> Http:
    return Http(raw_http, local_api_url, account)


def test_given_bindings_made_with_the_client_when_their_links_user_are_followed_then_the_users_list_and_erase(  # noqa: E501
    bindings, http: Http, service_sid: str
):
    alice = "alice smith/1"
    alices = [
        bindings.create(identity=alice, binding_type="apn", address="apn-token", tag=["news"]),
        bindings.create(identity=alice, binding_type="sms", address="+15550001111"),
    ]
    bob = bindings.create(identity="bob", binding_type="fcm", address="fcm-token", tag=["news"])

    user = http.get(alices[0].links["user"])
    assert user.status_code == 200, user.text
    assert user.headers["Content-Type"] == "application/json"
    body = user.json()
    assert (body["identity"], body["binding_count"]) == (alice, 2)
    assert body["url"] == alices[1].links["user"]
    assert body["url"].endswith(f"/Users/{quote(alice, safe='')}")
    listed = http.get(body["links"]["bindings"]).json()
    assert [b["sid"] for b in listed["bindings"]] == [b.sid for b in alices]

    users: list[str] = []
    page: dict[str, Any] = http.get(f"/v1/Services/{service_sid}/Users", PageSize=1).json()
    while True:
        users += [u["identity"] for u in page["users"]]
        if not page["meta"]["next_page_url"]:
            break
        page = http.get(page["meta"]["next_page_url"]).json()
    assert users == [alice, "bob"]

    erased = http.delete(body["url"])

    assert (erased.status_code, erased.text) == (204, "")
    assert bindings.list(identity=[alice]) == []
    assert [b.sid for b in bindings.list(tag=["news"])] == [bob.sid]
    for gone in alices:
        with pytest.raises(TwilioRestException) as caught:
            bindings(gone.sid).fetch()
        assert (caught.value.status, caught.value.code) == (404, 20404)
    assert http.get(body["url"]).status_code == 404
    again = http.delete(body["url"])
    assert (again.status_code, again.json()["code"]) == (404, 20404)


def test_given_a_binding_when_looked_up_by_its_address_then_that_binding_or_an_empty_page(
    bindings, http: Http, service_sid: str
):
    wanted = bindings.create(identity="alice", binding_type="sms", address="+15550002222")
    bindings.create(identity="bob", binding_type="apn", address="apn-token")

    found = http.get(f"/v1/Services/{service_sid}/Bindings", Address="+15550002222").json()
    other = http.get(
        f"/v1/Services/{service_sid}/Bindings", Address="+15550002222", Identity="bob"
    ).json()
    nothing = http.get(f"/v1/Services/{service_sid}/Bindings", Address="+15550009999").json()

    assert [b["sid"] for b in found["bindings"]] == [wanted.sid]
    assert found["bindings"][0] == http.get(wanted.url).json()
    assert other["bindings"] == []  # the other filters still apply
    assert nothing["bindings"] == []


def test_given_a_service_that_evicts_the_oldest_when_the_client_creates_a_21st_binding_then_it_replaces_the_oldest(  # noqa: E501
    twilio_client, bindings, http: Http, service_sid: str
):
    updated = http.post(
        f"/v1/Services/{service_sid}", {"IdentityBindingLimitPolicy": "evict_oldest"}
    )
    assert updated.json()["identity_binding_limit_policy"] == "evict_oldest"
    assert twilio_client.notify.v1.services(service_sid).fetch().sid == service_sid
    created = [
        bindings.create(identity="alice", binding_type="apn", address=f"token-{n}")
        for n in range(21)
    ]

    with pytest.raises(TwilioRestException) as caught:
        bindings(created[0].sid).fetch()

    assert caught.value.status == 404
    assert [b.sid for b in bindings.list(identity=["alice"])] == [b.sid for b in created[1:]]
    reject = http.post(f"/v1/Services/{service_sid}", {"IdentityBindingLimitPolicy": "reject"})
    assert reject.json()["identity_binding_limit_policy"] == "reject"
    with pytest.raises(TwilioRestException) as refused:
        bindings.create(identity="alice", binding_type="apn", address="token-21")
    assert (refused.value.status, refused.value.code) == (400, 20001)


def test_given_a_users_path_when_asked_with_another_method_then_405_naming_those_it_has(
    http: Http, service_sid: str
):
    reply = http.post(f"/v1/Services/{service_sid}/Users/alice", {})

    assert (reply.status_code, reply.json()["code"]) == (405, 20004)
    assert set(reply.headers["Allow"].replace(" ", "").split(",")) == {"GET", "DELETE"}
    users = http.post(f"/v1/Services/{service_sid}/Users", {})
    assert (users.status_code, users.headers["Allow"]) == (405, "GET")


@pytest.mark.parametrize("identity", [".", ".."])
def test_given_a_dot_segment_identity_when_requests_follows_its_links_user_then_the_user(
    bindings, http: Http, identity: str
):
    """requests, like curl and browsers, removes `.` and `..` segments from a URL before
    sending it (RFC 3986, 5.2.4): a link must not rely on them surviving."""
    created = bindings.create(identity=identity, binding_type="apn", address="apn-token")

    user = http.get(created.links["user"])

    assert user.status_code == 200, user.text
    assert user.json()["identity"] == identity
    assert user.json()["url"] == created.links["user"]
    listed = http.get(user.json()["links"]["bindings"])
    assert [b["sid"] for b in listed.json()["bindings"]] == [created.sid]
