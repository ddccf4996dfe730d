"""Posting delivery callbacks: only https to public addresses in a deployment, the address
checked being the one connected to; locally http to 127.0.0.1."""

from __future__ import annotations

import socket

import httpx
import pytest

from notify_bindings.providers.webhooks import (
    CallbackPoster,
    CallbackRefused,
    allowed_address,
    pinned_target,
)


def resolver(*addresses: str):
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # the instance metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "ff02::1",
        "::",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not allowed_address(address, allow_local=False)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address):
    assert allowed_address(address, allow_local=False)


def test_locally_loopback_is_allowed_but_not_the_private_networks():
    assert allowed_address("127.0.0.1", allow_local=True)
    assert not allowed_address("10.0.0.5", allow_local=True)
    assert not allowed_address("169.254.169.254", allow_local=True)


def test_the_request_goes_to_the_checked_address_with_the_host_name_kept():
    target, host = pinned_target(
        "https://hooks.example.com/notify?x=1", allow_local=False, resolve=resolver("93.184.216.34")
    )

    assert (str(target), host) == ("https://93.184.216.34/notify?x=1", "hooks.example.com")


@pytest.mark.parametrize(
    ("url", "addresses", "allow_local"),
    [
        ("http://hooks.example.com/cb", ("93.184.216.34",), False),
        ("https://hooks.example.com/cb", ("127.0.0.1",), False),
        ("https://hooks.example.com/cb", ("93.184.216.34", "10.0.0.1"), False),  # any of them
        ("https://hooks.example.com/cb", (), False),
        ("ftp://hooks.example.com/cb", ("93.184.216.34",), True),
        ("http://hooks.example.com/cb", ("93.184.216.34",), True),  # http: loopback only
        ("not a url", ("93.184.216.34",), False),
    ],
)
def test_urls_that_may_not_be_called_are_refused(url, addresses, allow_local):
    with pytest.raises(CallbackRefused):
        pinned_target(url, allow_local=allow_local, resolve=resolver(*addresses))


def test_locally_http_to_127_0_0_1_is_allowed():
    target, host = pinned_target("http://127.0.0.1:8123/cb", allow_local=True)

    assert (str(target), host) == ("http://127.0.0.1:8123/cb", "127.0.0.1")


def test_a_host_that_does_not_resolve_is_refused():
    def fails(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(CallbackRefused, match="resolve"):
        pinned_target("https://nowhere.invalid/cb", allow_local=False, resolve=fails)


def test_a_poster_makes_its_http_client_at_its_first_callback_then_keeps_it(monkeypatch):
    made = []
    real_client = httpx.Client

    def client(**options):
        made.append(options)
        return real_client(**options)

    monkeypatch.setattr(httpx, "Client", client)
    with socket.socket() as closed:  # a loopback port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/cb"
    poster = CallbackPoster(allow_local=True)
    try:
        assert made == []
        answers = [poster.post(url, "token", {"n": "1"}) for _ in range(2)]
        assert [answer.retryable for answer in answers] == [True, True]  # refused: no listener
        assert len(made) == 1
    finally:
        poster.close()
