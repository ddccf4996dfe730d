"""Pages, page navigation, stream and list limits, and page tokens, as the client uses them."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException


@pytest.fixture
def seven(bindings) -> list[str]:
    """The SIDs of seven bindings of one Service."""
    return [
        bindings.create(
            identity=f"user-{n % 3}", binding_type="fcm", address=f"fcm-token-{n}", tag=["t"]
        ).sid
        for n in range(7)
    ]


@pytest.fixture
def three(bindings) -> list[str]:
    """The SIDs of three bindings of one Service, two of them of identity `user-0`."""
    return [
        bindings.create(identity=f"user-{n % 2}", binding_type="apn", address=f"apn-token-{n}").sid
        for n in range(3)
    ]


def sids_of(page) -> list[str]:
    return [binding.sid for binding in page]


def test_given_seven_bindings_when_paged_by_three_then_pages_of_3_3_1_cover_each_once(
    bindings, seven
):
    first = bindings.page(page_size=3)
    second = first.next_page()
    third = second.next_page()

    pages = [sids_of(first), sids_of(second), sids_of(third)]
    assert [len(page) for page in pages] == [3, 3, 1]
    every = [sid for page in pages for sid in page]
    assert sorted(every) == sorted(seven)
    assert third.next_page() is None
    assert first.previous_page() is None


def test_given_the_last_of_three_pages_when_going_back_then_the_same_pages_again(bindings, seven):
    first = bindings.page(page_size=3)
    second = first.next_page()
    third = second.next_page()
    expected_first, expected_second = sids_of(first), sids_of(second)

    back_to_second = third.previous_page()
    back_to_first = back_to_second.previous_page()

    assert sids_of(back_to_second) == expected_second
    assert sids_of(back_to_first) == expected_first
    assert back_to_first.previous_page() is None
    assert sids_of(back_to_first.next_page()) == expected_second


def test_given_filtered_pages_when_navigated_then_the_filter_holds_on_every_page(bindings, seven):
    first = bindings.page(identity=["user-0", "user-1"], tag=["t", "fcm"], page_size=2)
    pages = [sids_of(first)]
    page = first.next_page()
    while page is not None:
        pages.append(sids_of(page))
        page = page.next_page()

    wanted = [sid for n, sid in enumerate(seven) if n % 3 in (0, 1)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(sid for page in pages for sid in page) == sorted(wanted)


def test_given_seven_bindings_when_listed_with_limit_5_then_five_distinct_of_them(bindings, seven):
    listed = [binding.sid for binding in bindings.list(limit=5)]

    assert len(listed) == 5
    assert len(set(listed)) == 5
    assert set(listed) <= set(seven)


def test_given_seven_bindings_when_streamed_by_pages_of_2_then_each_binding_exactly_once(
    bindings, seven
):
    streamed = [binding.sid for binding in bindings.stream(page_size=2)]

    assert sorted(streamed) == sorted(seven)


def test_given_bindings_when_listed_with_limit_2000_then_page_size_is_clamped_not_refused(
    bindings, three
):
    # The client sends PageSize=2000, above the API's maximum of 1000.
    listed = [binding.sid for binding in bindings.list(limit=2000)]

    assert sorted(listed) == sorted(three)


def test_given_a_page_size_above_1000_when_a_page_is_fetched_then_its_page_size_is_1000(
    bindings, three
):
    page = bindings.page(page_size=2000)

    assert sorted(sids_of(page)) == sorted(three)
    # What the page says of itself; the client keeps it but offers no accessor.
    assert page._payload["meta"]["page_size"] == 1000


def with_page_token(url: str, change) -> str:
    parts = urlsplit(url)
    query = [
        (name, change(value) if name == "PageToken" else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def flip_middle_character(token: str) -> str:
    # A middle character: every one of its bits is decoded (unlike padding bits at the end).
    middle = len(token) // 2
    replacement = "B" if token[middle] != "B" else "C"
    return token[:middle] + replacement + token[middle + 1 :]


def assert_page_refused(bindings, url: str) -> None:
    with pytest.raises(TwilioException) as caught:
        bindings.get_page(url)
    # The client does not parse page errors into codes (it raises a plain TwilioException).
    assert not isinstance(caught.value, TwilioRestException)
    response = caught.value.args[1]
    assert response.status_code == 400
    assert json.loads(response.text)["code"] == 20001


def test_given_a_next_page_url_when_its_page_token_is_tampered_with_then_the_page_is_refused(
    bindings, three
):
    next_url = bindings.page(page_size=2).next_page_url
    assert "PageToken=" in next_url
    assert len(sids_of(bindings.get_page(next_url))) == 1  # untouched, it works

    assert_page_refused(bindings, with_page_token(next_url, flip_middle_character))
    assert_page_refused(bindings, with_page_token(next_url, lambda token: token[:-4]))
    assert_page_refused(bindings, with_page_token(next_url, lambda token: "not-a-token"))


def test_given_a_page_token_of_one_service_when_used_in_another_then_the_page_is_refused(
    twilio_client, bindings, service_sid, another_service_sid, three
):
    next_url = bindings.page(page_size=2).next_page_url
    elsewhere = next_url.replace(service_sid, another_service_sid)
    other_bindings = twilio_client.notify.v1.services(another_service_sid).bindings
    other_bindings.create(identity="user-0", binding_type="apn", address="apn-token-elsewhere")

    assert_page_refused(other_bindings, elsewhere)


def test_given_a_page_token_of_one_filter_when_used_with_another_then_the_page_is_refused(
    bindings, three
):
    next_url = bindings.page(identity=["user-0"], page_size=1).next_page_url
    assert "Identity=user-0" in next_url
    assert len(sids_of(bindings.get_page(next_url))) == 1  # untouched, it works

    assert_page_refused(bindings, next_url.replace("Identity=user-0", "Identity=user-1"))
