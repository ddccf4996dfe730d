"""Authentication: an Account SID and its auth token, or an API key SID and its secret, on
every route; anything else is Twilio's 401 (20003) with a Basic challenge, whatever the route.

API keys are made, revoked and tokens rotated with the admin CLI, as an operator would."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from local_api.template import SamTemplate
from tests.e2e.support import (
    Admin,
    Credentials,
    LocalApi,
    client_for,
    delete_quietly,
)


def assert_refused(response: requests.Response) -> None:
    """Twilio's 401: code 20003, a Basic challenge, and nothing else in the body."""
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


# -- the accepted credentials --------------------------------------------------------------


@pytest.fixture(scope="module")
def api_key(admin: Admin, account: Credentials) -> Credentials:
    """An API key of the first account, made with the admin CLI."""
    return admin.create_key(account.account_sid)


@pytest.fixture(params=["auth token", "API key"])
def caller(request: pytest.FixtureRequest, account: Credentials) -> Credentials:
    if request.param == "auth token":
        return account
    key: Credentials = request.getfixturevalue("api_key")
    return key


@pytest.fixture
def caller_client(local_api: LocalApi, caller: Credentials) -> Any:
    return client_for(local_api.url, caller)


def test_given_valid_credentials_when_a_service_is_created_read_updated_deleted_then_each_works(
    caller_client, caller, twilio_client
):
    services = caller_client.notify.v1.services
    name = f"auth {secrets.token_hex(4)}"

    created = services.create(friendly_name=name, default_apn_notification_protocol_version="4")
    try:
        assert created.account_sid == caller.account_sid
        assert services(created.sid).fetch().friendly_name == name
        assert [service.sid for service in services.list(friendly_name=name)] == [created.sid]
        assert services(created.sid).update(friendly_name=f"{name} renamed").friendly_name == (
            f"{name} renamed"
        )
        # Whichever credentials made it, the Service is the account's.
        assert twilio_client.notify.v1.services(created.sid).fetch().friendly_name == (
            f"{name} renamed"
        )
        assert services(created.sid).delete() is True
        with pytest.raises(TwilioRestException) as caught:
            services(created.sid).fetch()
        assert (caught.value.status, caught.value.code) == (404, 20404)
    finally:
        delete_quietly(twilio_client, created.sid)


def test_given_valid_credentials_when_bindings_are_created_fetched_listed_deleted_then_each_works(
    caller_client, caller, service_sid, credentials
):
    bindings = caller_client.notify.v1.services(service_sid).bindings

    created = bindings.create(
        identity="alice",
        binding_type="apn",
        address="apn-auth-1",
        credential_sid=credentials["apn"],
    )
    assert created.account_sid == caller.account_sid
    assert created.service_sid == service_sid
    assert bindings(created.sid).fetch().address == "apn-auth-1"
    assert [binding.sid for binding in bindings.list(identity=["alice"])] == [created.sid]
    assert bindings(created.sid).delete() is True
    assert bindings.list() == []


# -- the refused credentials ---------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What the refused requests aim at: a Service of the first account with one binding."""

    service_sid: str
    friendly_name: str
    binding_sid: str


@pytest.fixture(scope="module")
def target(twilio_client: Any) -> Iterator[Target]:
    name = f"auth target {secrets.token_hex(4)}"
    service = twilio_client.notify.v1.services.create(friendly_name=name)
    binding = twilio_client.notify.v1.services(service.sid).bindings.create(
        identity="alice", binding_type="fcm", address="fcm-auth-target"
    )
    yield Target(service.sid, name, binding.sid)
    delete_quietly(twilio_client, service.sid)


def _works(local_api: LocalApi, credentials: Credentials) -> bool:
    try:
        client_for(local_api.url, credentials).notify.v1.services.list(limit=1)
    except TwilioException:
        return False
    return True


@pytest.fixture(scope="module")
def refused_credentials(
    local_api: LocalApi, admin: Admin, account: Credentials
) -> dict[str, Credentials | None]:
    """Credentials that prove nothing; the revoked key and the rotated-away token are proven
    to have worked before."""
    key = admin.create_key(account.account_sid)
    revoked = admin.create_key(account.account_sid)
    assert _works(local_api, revoked)
    admin.revoke_key(revoked.username)

    rotated_account = admin.create_account()
    assert _works(local_api, rotated_account)
    new_token = admin.rotate_token(rotated_account.account_sid)
    assert _works(local_api, new_token)

    unknown_sid = "AC" + secrets.token_hex(16)
    return {
        "no credentials": None,
        "wrong auth token": Credentials(account.username, secrets.token_hex(16), account.username),
        "unknown account": Credentials(unknown_sid, secrets.token_hex(16), unknown_sid),
        "wrong API key secret": Credentials(key.username, secrets.token_urlsafe(24), key.username),
        "revoked API key": revoked,
        "rotated-away auth token": rotated_account,
    }


@dataclass(frozen=True)
class Route:
    """A request, and the key of the template's route that takes it ($default: none other)."""

    route_key: str
    method: str
    path: str  # {IS} and {BS}: the target's Service and binding
    form: dict[str, str] | None = None


ROUTES = [
    Route("POST /v1/Services", "POST", "/v1/Services", {"FriendlyName": "sneaked-in"}),
    Route("GET /v1/Services", "GET", "/v1/Services"),
    Route("GET /v1/Services/{Sid}", "GET", "/v1/Services/{IS}"),
    Route("POST /v1/Services/{Sid}", "POST", "/v1/Services/{IS}", {"FriendlyName": "hijacked"}),
    Route("DELETE /v1/Services/{Sid}", "DELETE", "/v1/Services/{IS}"),
    Route(
        "POST /v1/Services/{ServiceSid}/Bindings",
        "POST",
        "/v1/Services/{IS}/Bindings",
        {"Identity": "mallory", "BindingType": "fcm", "Address": "fcm-auth-target"},
    ),
    Route("GET /v1/Services/{ServiceSid}/Bindings", "GET", "/v1/Services/{IS}/Bindings"),
    Route("GET /v1/Services/{ServiceSid}/Bindings/{Sid}", "GET", "/v1/Services/{IS}/Bindings/{BS}"),
    Route(
        "DELETE /v1/Services/{ServiceSid}/Bindings/{Sid}",
        "DELETE",
        "/v1/Services/{IS}/Bindings/{BS}",
    ),
    # Ours: the Users of the target's Service; alice is the identity of its binding.
    Route("GET /v1/Services/{ServiceSid}/Users", "GET", "/v1/Services/{IS}/Users"),
    Route("GET /v1/Services/{ServiceSid}/Users/{Identity}", "GET", "/v1/Services/{IS}/Users/alice"),
    Route(
        "GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings",
        "GET",
        "/v1/Services/{IS}/Users/alice/Bindings",
    ),
    Route(
        "DELETE /v1/Services/{ServiceSid}/Users/{Identity}",
        "DELETE",
        "/v1/Services/{IS}/Users/alice",
    ),
    # Ours: the address of the target's binding reported dead.
    Route(
        "POST /v1/Services/{ServiceSid}/DeadTokens",
        "POST",
        "/v1/Services/{IS}/DeadTokens",
        {"Address": "fcm-auth-target"},
    ),
    Route(
        "POST /v1/Services/{ServiceSid}/Notifications",
        "POST",
        "/v1/Services/{IS}/Notifications",
        {"Identity": "alice", "Body": "Hi"},
    ),
    Route(
        "GET /v1/Services/{ServiceSid}/Notifications/{Sid}",
        "GET",
        "/v1/Services/{IS}/Notifications/NT00000000000000000000000000000000",
    ),
    # The Credentials of the account (the {IS} Service's binding names no one else's).
    Route("POST /v1/Credentials", "POST", "/v1/Credentials", {"Type": "fcm", "Secret": "{}"}),
    Route("GET /v1/Credentials", "GET", "/v1/Credentials"),
    Route("GET /v1/Credentials/{Sid}", "GET", "/v1/Credentials/CR" + "0" * 32),
    Route(
        "POST /v1/Credentials/{Sid}", "POST", "/v1/Credentials/CR" + "0" * 32, {"FriendlyName": "x"}
    ),
    Route("DELETE /v1/Credentials/{Sid}", "DELETE", "/v1/Credentials/CR" + "0" * 32),
    # $default: an unknown path (404 when authenticated) and a known path with a method it
    # does not take (405 when authenticated) are refused before either is looked at.
    Route("$default", "GET", "/v1/Unknown/Path"),
    Route("$default", "PUT", "/v1/Services/{IS}/Bindings/{BS}", {"Identity": "mallory"}),
]


def test_given_the_template_when_its_routes_are_listed_then_the_refusal_tests_cover_each():
    assert {route.route_key for route in SamTemplate.load().routes} == {
        route.route_key for route in ROUTES
    }


def test_given_an_authenticated_caller_when_the_default_routes_are_requested_then_404_and_405(
    local_api, account, target, raw_http
):
    """The $default requests below are refused for want of credentials, not for their path."""
    statuses = [
        raw_http.request(
            route.method,
            local_api.url + route.path.format(IS=target.service_sid, BS=target.binding_sid),
            auth=(account.username, account.password),
            data=route.form,
            timeout=30,
        ).status_code
        for route in ROUTES
        if route.route_key == "$default"
    ]
    assert statuses == [404, 405]


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.method} {route.path}")
@pytest.mark.parametrize(
    "case",
    [
        "no credentials",
        "wrong auth token",
        "unknown account",
        "wrong API key secret",
        "revoked API key",
        "rotated-away auth token",
    ],
)
def test_given_credentials_that_prove_nothing_when_any_route_is_requested_then_401_and_no_effect(
    local_api, refused_credentials, target, twilio_client, raw_http, route, case
):
    credentials = refused_credentials[case]
    url = local_api.url + route.path.format(IS=target.service_sid, BS=target.binding_sid)
    auth = None if credentials is None else (credentials.username, credentials.password)

    response = raw_http.request(route.method, url, auth=auth, data=route.form, timeout=30)

    assert_refused(response)
    if route.method != "GET":  # the request changed nothing
        services = twilio_client.notify.v1.services
        assert services(target.service_sid).fetch().friendly_name == target.friendly_name
        assert services.list(friendly_name="sneaked-in") == []
        listed = services(target.service_sid).bindings.list()
        assert [(b.sid, b.identity) for b in listed] == [(target.binding_sid, "alice")]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer {token}",
        "Basic not-base64!",
        "Basic {no_colon}",
        "Digest username={sid}",
    ],
    ids=["bearer", "not-base64", "no-colon", "digest"],
)
def test_given_a_malformed_authorization_header_when_a_route_is_requested_then_401(
    local_api, account, raw_http, authorization
):
    import base64

    no_colon = base64.b64encode(f"{account.username}{account.password}".encode()).decode()
    header = authorization.format(token=account.password, no_colon=no_colon, sid=account.username)

    response = raw_http.get(
        f"{local_api.url}/v1/Services", headers={"Authorization": header}, timeout=30
    )

    assert_refused(response)


def test_given_the_official_client_with_a_wrong_token_when_it_creates_then_a_401_exception(
    local_api, account, service_sid
):
    wrong = Credentials(account.username, secrets.token_hex(16), account.username)
    bindings = client_for(local_api.url, wrong).notify.v1.services(service_sid).bindings

    with pytest.raises(TwilioRestException) as caught:
        bindings.create(identity="alice", binding_type="apn", address="apn-1")

    assert (caught.value.status, caught.value.code) == (401, 20003)
