"""Basic credentials parsed as Twilio's clients send them, and the authorizer's cache.

The cache tests put a counting fake in front of the credentials: what they check is how often
the store is asked, which only a fake can tell. AccountStore itself is tested against moto.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field

import pytest

from notify_bindings.api.auth import Authenticator, parse_basic

ACCOUNT = "AC" + "a" * 32
TOKEN = "b" * 32
KEY = "SK" + "c" * 32
SECRET = "d" * 32


def basic(credentials: str | bytes, scheme: str = "Basic") -> str:
    raw = credentials.encode() if isinstance(credentials, str) else credentials
    return f"{scheme} {base64.b64encode(raw).decode()}"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic(f"{ACCOUNT}:{TOKEN}"), (ACCOUNT, TOKEN)),
        (basic(f"{ACCOUNT}:{TOKEN}", "basic"), (ACCOUNT, TOKEN)),
        (basic(f"{ACCOUNT}:{TOKEN}", "BASIC"), (ACCOUNT, TOKEN)),
        ("  " + basic(f"{ACCOUNT}:{TOKEN}").replace(" ", "   ") + " ", (ACCOUNT, TOKEN)),
        (basic("user:pa:ss:"), ("user", "pa:ss:")),  # split on the first colon only
        (basic("user:"), ("user", "")),
        (basic(":secret"), ("", "secret")),
        (basic("ünïcode:pässwörd"), ("ünïcode", "pässwörd")),
    ],
)
def test_given_a_basic_header_then_username_and_password_are_returned(header, expected):
    assert parse_basic(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer " + base64.b64encode(b"user:pass").decode(),
        "Basicx " + base64.b64encode(b"user:pass").decode(),
        basic("no colon at all"),
        "Basic not*base64!",
        "Basic " + base64.b64encode(b"user:pas").decode().rstrip("="),  # padding dropped
        "Basic " + base64.urlsafe_b64encode(b"\xfb\xff:x").decode(),  # URL-safe alphabet
        basic(b"\xff\xfe:latin-1 is not UTF-8"),
        "Basic dXNlcjpwYXNz ZXh0cmE=",  # two tokens
        "Basic " + "QUFB" * 300,  # longer than any credentials
        "Basic " + "dXNlcjpwYXNz\u00e9",  # not ASCII
    ],
)
def test_given_anything_else_then_none(header):
    assert parse_basic(header) is None


@dataclass
class CountingStore:
    """Proves exactly the credentials it holds, and counts how often it is asked."""

    credentials: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: int = 0

    def authenticate(self, username: str, password: str) -> str | None:
        self.calls += 1
        return self.credentials.get((username, password))


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> CountingStore:
    return CountingStore({(ACCOUNT, TOKEN): ACCOUNT, (KEY, SECRET): ACCOUNT})


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_given_proven_credentials_when_presented_again_then_the_store_is_not_asked(store, clock):
    authenticator = Authenticator(store, 60, clock=clock)

    assert authenticator.account_for(basic(f"{ACCOUNT}:{TOKEN}")) == ACCOUNT
    assert authenticator.account_for(basic(f"{ACCOUNT}:{TOKEN}", "basic")) == ACCOUNT
    assert authenticator.account_for(basic(f"{KEY}:{SECRET}")) == ACCOUNT
    assert authenticator.account_for(basic(f"{KEY}:{SECRET}")) == ACCOUNT

    assert store.calls == 2


def test_given_the_ttl_passed_then_the_store_is_asked_again(store, clock):
    authenticator = Authenticator(store, 60, clock=clock)
    authenticator.account_for(basic(f"{ACCOUNT}:{TOKEN}"))

    clock.now += 59.9
    authenticator.account_for(basic(f"{ACCOUNT}:{TOKEN}"))
    assert store.calls == 1

    clock.now += 0.1
    store.credentials.clear()  # e.g. the token was rotated meanwhile
    assert authenticator.account_for(basic(f"{ACCOUNT}:{TOKEN}")) is None
    assert store.calls == 2


def test_given_a_changed_password_then_it_is_not_served_from_the_cache(store, clock):
    authenticator = Authenticator(store, 60, clock=clock)
    assert authenticator.account_for(basic(f"{ACCOUNT}:{TOKEN}")) == ACCOUNT

    assert authenticator.account_for(basic(f"{ACCOUNT}:{TOKEN[:-1]}x")) is None
    assert authenticator.account_for(basic(f"{ACCOUNT}:{TOKEN}:")) is None
    assert store.calls == 3


def test_given_refused_credentials_then_they_are_not_remembered(store, clock):
    authenticator = Authenticator(store, 60, clock=clock)
    assert authenticator.account_for(basic(f"{KEY}:wrong")) is None

    store.credentials[(KEY, "wrong")] = ACCOUNT  # now they would be right
    assert authenticator.account_for(basic(f"{KEY}:wrong")) == ACCOUNT
    assert store.calls == 2


def test_given_a_ttl_of_zero_then_every_request_asks_the_store(store, clock):
    authenticator = Authenticator(store, 0, clock=clock)

    for _ in range(3):
        assert authenticator.account_for(basic(f"{ACCOUNT}:{TOKEN}")) == ACCOUNT

    assert store.calls == 3


@pytest.mark.parametrize("header", [None, "", "Bearer abc", "Basic %%%", basic("nocolon")])
def test_given_no_usable_header_then_none_without_asking_the_store(store, clock, header):
    assert Authenticator(store, 60, clock=clock).account_for(header) is None
    assert store.calls == 0


def test_given_a_negative_ttl_then_value_error(store):
    with pytest.raises(ValueError, match="ttl_seconds"):
        Authenticator(store, -1)


def test_given_many_credentials_then_the_cache_stays_bounded_and_correct(clock):
    many = CountingStore({(f"SK{n:032x}", SECRET): ACCOUNT for n in range(1500)})
    authenticator = Authenticator(many, 60, clock=clock)

    for n in range(1500):
        assert authenticator.account_for(basic(f"SK{n:032x}:{SECRET}")) == ACCOUNT
    asked = many.calls
    assert authenticator.account_for(basic(f"SK{1499:032x}:{SECRET}")) == ACCOUNT  # recent
    assert authenticator.account_for(basic(f"SK{0:032x}:{SECRET}")) == ACCOUNT  # evicted

    assert many.calls == asked + 1


def test_given_credentials_then_neither_the_secret_nor_the_header_is_logged(store, clock, caplog):
    authenticator = Authenticator(store, 60, clock=clock)
    headers = [basic(f"{ACCOUNT}:{TOKEN}"), basic(f"{KEY}:{SECRET}"), basic(f"{KEY}:wrong")]

    with caplog.at_level(logging.DEBUG):
        for header in headers * 2:
            authenticator.account_for(header)

    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("Credentials accepted") == 4
    assert messages.count("Credentials refused") == 2
    # Every attribute of every record, the structured extras included.
    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    for secret in (TOKEN, SECRET, "wrong", *(header.split()[1] for header in headers)):
        assert secret not in logged
