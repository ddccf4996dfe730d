"""Page tokens: opaque, tamper-evident, bound to the Service and the filters."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notify_bindings.api.page_tokens import PageTokens
from notify_bindings.api.requests.binding_lists import pairs_of
from notify_bindings.domain.bindings import BindingFilters
from notify_bindings.domain.paging import Direction, KeyCursor, PageCursor
from notify_bindings.platform.errors import InvalidPageToken

SERVICE = "IS" + "a" * 32 + "/Bindings"
OTHER_SERVICE = "IS" + "b" * 32 + "/Bindings"
SID = "BS0190a1b2c3d4" + "e" * 20
FILTERS = pairs_of(
    BindingFilters(identities=("alice",), tags=("vip",), start_date=date(2024, 1, 1))
)
tokens = PageTokens("a-secret-of-enough-length")


def test_given_an_issued_token_when_read_back_then_the_cursor_returns():
    cursor = PageCursor(Direction.BEFORE, SID)

    token = tokens.issue(SERVICE, FILTERS, cursor)

    assert tokens.read(token, SERVICE, FILTERS) == cursor
    assert SID[2:] not in token  # opaque: the SID is not readable in it


def test_given_the_same_filters_in_another_order_then_the_token_still_reads():
    token = tokens.issue(
        SERVICE, pairs_of(BindingFilters(tags=("a", "b"))), PageCursor(Direction.AFTER, SID)
    )

    assert tokens.read(token, SERVICE, pairs_of(BindingFilters(tags=("b", "a")))).sid == SID


def test_given_a_service_sid_cursor_then_its_prefix_survives():
    cursor = PageCursor(Direction.AFTER, "IS" + "0" * 31 + "7")

    assert tokens.read(tokens.issue("AC/Services", [], cursor), "AC/Services", []) == cursor


@pytest.mark.parametrize(
    ("service", "filters"),
    [
        (OTHER_SERVICE, FILTERS),
        (SERVICE, pairs_of(BindingFilters(identities=("alice",), tags=("vip",)))),
        (
            SERVICE,
            pairs_of(
                BindingFilters(identities=("mallory",), tags=("vip",), start_date=date(2024, 1, 1))
            ),
        ),
    ],
)
def test_given_a_token_when_replayed_elsewhere_then_refused(service, filters):
    token = tokens.issue(SERVICE, FILTERS, PageCursor(Direction.AFTER, SID))

    with pytest.raises(InvalidPageToken):
        tokens.read(token, service, filters)


def test_given_any_changed_character_when_read_then_refused():
    token = tokens.issue(SERVICE, FILTERS, PageCursor(Direction.AFTER, SID))

    for position in range(len(token)):
        replacement = "A" if token[position] != "A" else "B"
        tampered = token[:position] + replacement + token[position + 1 :]
        with pytest.raises(InvalidPageToken):
            tokens.read(tampered, SERVICE, FILTERS)


@pytest.mark.parametrize("garbage", ["", "PT", "PT!!!", "XX" + "A" * 40, "PT" + "A" * 500])
def test_given_garbage_when_read_then_refused(garbage):
    with pytest.raises(InvalidPageToken):
        tokens.read(garbage, SERVICE, FILTERS)


def test_given_another_secret_when_read_then_refused():
    token = tokens.issue(SERVICE, FILTERS, PageCursor(Direction.AFTER, SID))

    with pytest.raises(InvalidPageToken):
        PageTokens("another-secret-entirely").read(token, SERVICE, FILTERS)


# -- key tokens: listings ordered by something else than SIDs (Users, by identity) -----------

USERS = "/Services/IS" + "a" * 32 + "/Users"


@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize("key", ["alice", "dave@example.com", "eve f/ü", "日本語" * 85, "x"])
def test_given_a_key_token_when_read_back_then_its_cursor_returns(key, direction, inclusive):
    cursor = KeyCursor(direction, key, inclusive)

    token = tokens.issue_key(USERS, [], cursor)

    assert tokens.read_key(token, USERS, []) == cursor
    assert len(token) <= 2048  # the longest identity (256 characters of 3 bytes) fits


def test_given_a_key_token_when_altered_or_replayed_elsewhere_then_refused():
    token = tokens.issue_key(USERS, [], KeyCursor(Direction.AFTER, "alice"))

    for changed in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:12], token + "A"):
        with pytest.raises(InvalidPageToken):
            tokens.read_key(changed, USERS, [])
    with pytest.raises(InvalidPageToken):
        tokens.read_key(token, USERS.replace("a", "b"), [])
    with pytest.raises(InvalidPageToken):
        tokens.read_key(token, USERS, [("Tag", "x")])


def test_given_a_sid_token_and_a_key_token_of_one_scope_then_neither_reads_as_the_other():
    # A SID whose bytes are text, so that only the version tells the token from a key token.
    sid_token = tokens.issue(USERS, [], PageCursor(Direction.AFTER, "BS" + "41" * 16))
    # A key of 18 bytes makes a body as long as a SID token's.
    key_token = tokens.issue_key(USERS, [], KeyCursor(Direction.AFTER, "k" * 18))

    with pytest.raises(InvalidPageToken):
        tokens.read_key(sid_token, USERS, [])
    with pytest.raises(InvalidPageToken):
        tokens.read(key_token, USERS, [])


# -- strict decoding: one spelling per token --------------------------------------------------


def _token() -> str:
    """A genuine token with a `-` or `_` in it (for the standard-alphabet case)."""
    for n in range(256):
        token = tokens.issue(SERVICE, FILTERS, PageCursor(Direction.AFTER, SID[:-2] + f"{n:02x}"))
        if "-" in token[2:] or "_" in token[2:]:
            return token
    raise AssertionError("no token with - or _ among 256")


@pytest.mark.parametrize(
    "respell",
    [
        pytest.param(lambda t: t[:10] + "!" + t[10:], id="junk-inserted"),
        pytest.param(lambda t: t[:10] + "." + t[10:], id="dot-inserted"),
        pytest.param(lambda t: t + "=", id="one-extra-pad"),
        pytest.param(lambda t: t + "==", id="two-extra-pad"),
        pytest.param(lambda t: t + "====", id="four-extra-pad"),
        pytest.param(lambda t: t[:10] + " " + t[10:], id="space"),
        pytest.param(lambda t: t[:10] + "\n" + t[10:], id="newline"),
        pytest.param(lambda t: t + "\t", id="trailing-tab"),
        pytest.param(lambda t: t[:2] + " " + t[2:], id="space-after-prefix"),
        pytest.param(lambda t: t.replace("-", "+").replace("_", "/"), id="standard-alphabet"),
    ],
)
def test_given_a_token_spelled_otherwise_when_read_then_refused(respell):
    token = _token()
    tokens.read(token, SERVICE, FILTERS)  # genuine as it is
    respelled = respell(token)
    assert respelled != token

    with pytest.raises(InvalidPageToken):
        tokens.read(respelled, SERVICE, FILTERS)


@pytest.mark.parametrize("key", ["a", "ab"])  # 19 and 20 bytes: 4 and 2 unused bits
def test_given_a_last_character_with_other_unused_bits_when_read_then_refused(key):
    token = tokens.issue_key(USERS, [], KeyCursor(Direction.AFTER, key, False))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused_bits = {2: 4, 3: 2}[(len(token) - 2) % 4]
    last = alphabet.index(token[-1])
    assert last % (1 << unused_bits) == 0
    for unused in range(1, 1 << unused_bits):
        respelled = token[:-1] + alphabet[last + unused]
        with pytest.raises(InvalidPageToken):
            tokens.read_key(respelled, USERS, [])


@given(
    sid=st.text("0123456789abcdef", min_size=32, max_size=32),
    direction=st.sampled_from(Direction),
)
def test_given_any_cursor_then_its_token_is_plain_urlsafe_base64_and_reads_back(sid, direction):
    cursor = PageCursor(direction, "BS" + sid)

    token = tokens.issue(SERVICE, FILTERS, cursor)

    assert re.fullmatch(r"PT[A-Za-z0-9_-]+", token)
    assert tokens.read(token, SERVICE, FILTERS) == cursor


@given(key=st.text(max_size=40), junk=st.sampled_from(["=", " ", "+", "/", "\n", "%", "*"]))
def test_given_any_key_token_with_a_character_outside_the_alphabet_then_refused(key, junk):
    token = tokens.issue_key(USERS, [], KeyCursor(Direction.AFTER, key, False))
    position = len(token) // 2 + 1

    with pytest.raises(InvalidPageToken):
        tokens.read_key(token[:position] + junk + token[position:], USERS, [])
