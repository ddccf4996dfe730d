"""ListBindingsFunction: filters, paging and Twilio's meta block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from tests.handlers.helpers import LIST, bindings_path, create


def list_page(invoke, service_sid, **query):
    reply = invoke(LIST, bindings_path(service_sid), query=query)
    assert reply.status == 200, reply.body
    return reply.json()


def follow(invoke, url):
    parts = urlsplit(url)
    reply = invoke(LIST, parts.path, query=parse_qsl(parts.query))
    assert reply.status == 200, reply.body
    return reply.json()


def test_given_seven_bindings_when_paged_by_three_then_3_3_1_each_once_in_creation_order(
    invoke, service_sid
):
    created = [
        create(invoke, service_sid, Address=f"t{n}", Identity=f"u{n}")["sid"] for n in range(7)
    ]

    first = list_page(invoke, service_sid, PageSize=3)
    second = follow(invoke, first["meta"]["next_page_url"])
    third = follow(invoke, second["meta"]["next_page_url"])

    pages = [first, second, third]
    assert [len(page["bindings"]) for page in pages] == [3, 3, 1]
    assert [b["sid"] for page in pages for b in page["bindings"]] == created
    assert third["meta"]["next_page_url"] is None
    assert [page["meta"]["page"] for page in pages] == [0, 1, 2]
    assert first["meta"]["previous_page_url"] is None
    back = follow(invoke, third["meta"]["previous_page_url"])
    assert [b["sid"] for b in back["bindings"]] == created[3:6]
    assert back["meta"]["page"] == 1


def test_given_a_page_then_meta_is_twilios_with_absolute_urls_echoing_filters(invoke, service_sid):
    create(invoke, service_sid, Tag=["vip"])

    meta = list_page(invoke, service_sid, Tag="vip", Identity="alice", PageSize=10)["meta"]

    assert set(meta) == {
        "page", "page_size", "first_page_url", "previous_page_url", "url", "next_page_url", "key"
    }  # fmt: skip
    assert meta["key"] == "bindings"
    assert meta["page_size"] == 10
    assert meta["url"] == (
        f"https://127.0.0.1{bindings_path(service_sid)}?Identity=alice&Tag=vip&PageSize=10&Page=0"
    )
    assert meta["first_page_url"] == meta["url"]


def test_given_exactly_a_full_page_then_no_next_page(invoke, service_sid):
    for n in range(3):
        create(invoke, service_sid, Address=f"t{n}", Identity=f"u{n}")

    assert list_page(invoke, service_sid, PageSize=3)["meta"]["next_page_url"] is None


def test_given_tags_when_filtered_then_all_of_them_including_implicit_ones(invoke, service_sid):
    apn_vip = create(invoke, service_sid, Address="a", Tag=["vip", "news"])["sid"]
    fcm_vip = create(invoke, service_sid, Address="b", BindingType="fcm", Tag=["vip"])["sid"]
    create(invoke, service_sid, Address="c", Tag=["news"])

    def sids(*tags):
        return [b["sid"] for b in list_page(invoke, service_sid, Tag=list(tags))["bindings"]]

    assert sids("vip") == [apn_vip, fcm_vip]
    assert sids("vip", "news") == [apn_vip]
    assert sids("vip", "fcm") == [fcm_vip]
    assert sids("fcm") == [fcm_vip]
    assert sids("all", "vip") == [apn_vip, fcm_vip]
    assert len(sids("all")) == 3
    assert sids("nope") == []


def test_given_identities_when_filtered_then_any_of_them(invoke, service_sid):
    alice = create(invoke, service_sid, Address="a", Identity="alice")["sid"]
    bob = create(invoke, service_sid, Address="b", Identity="bob", Tag=["x"])["sid"]
    create(invoke, service_sid, Address="c", Identity="carol")

    def sids(**query):
        return [b["sid"] for b in list_page(invoke, service_sid, **query)["bindings"]]

    assert sids(Identity=["alice", "bob"]) == [alice, bob]
    assert sids(Identity=["bob", "alice"], Tag="x") == [bob]
    assert sids(Identity="nobody") == []


def test_given_bindings_by_identity_when_paged_then_each_once(invoke, service_sid):
    created = [create(invoke, service_sid, Address=f"t{n}")["sid"] for n in range(5)]

    page = list_page(invoke, service_sid, Identity="alice", PageSize=2)
    seen = [b["sid"] for b in page["bindings"]]
    while page["meta"]["next_page_url"]:
        page = follow(invoke, page["meta"]["next_page_url"])
        seen += [b["sid"] for b in page["bindings"]]

    assert seen == created


def test_given_dates_when_filtered_then_creation_day_in_gmt_inclusive(invoke, service_sid):
    sid = create(invoke, service_sid)["sid"]
    today = datetime.now(UTC).date()
    day = timedelta(days=1)

    def sids(**query):
        return [b["sid"] for b in list_page(invoke, service_sid, **query)["bindings"]]

    assert sids(StartDate=today.isoformat(), EndDate=today.isoformat()) == [sid]
    assert sids(StartDate=(today + day).isoformat()) == []
    assert sids(EndDate=(today - day).isoformat()) == []
    assert sids(StartDate=(today + day).isoformat(), EndDate=(today - day).isoformat()) == []
    assert sids(Identity="alice", EndDate=(today - day).isoformat()) == []


def test_given_a_token_when_filters_change_then_400(invoke, service_sid):
    for n in range(3):
        create(invoke, service_sid, Address=f"t{n}", Tag=["a"])
    next_url = list_page(invoke, service_sid, PageSize=1, Tag="a")["meta"]["next_page_url"]
    token = dict(parse_qsl(urlsplit(next_url).query))["PageToken"]

    reply = invoke(LIST, bindings_path(service_sid), query={"PageToken": token, "PageSize": 1})

    assert reply.status == 400
    assert reply.json()["code"] == 20001


def test_given_a_binding_deleted_between_pages_then_paging_neither_repeats_nor_skips(
    invoke, service_sid
):
    from tests.handlers.helpers import DELETE

    created = [
        create(invoke, service_sid, Address=f"t{n}", Identity=f"u{n}")["sid"] for n in range(6)
    ]
    first = list_page(invoke, service_sid, PageSize=2)
    invoke(DELETE, f"{bindings_path(service_sid)}/{created[1]}")  # on the page already read
    invoke(DELETE, f"{bindings_path(service_sid)}/{created[3]}")  # on a page not yet read
    late = create(invoke, service_sid, Address="late", Identity="late")["sid"]

    seen = [b["sid"] for b in first["bindings"]]
    page = first
    while page["meta"]["next_page_url"]:
        page = follow(invoke, page["meta"]["next_page_url"])
        seen += [b["sid"] for b in page["bindings"]]

    assert seen == [created[0], created[1], created[2], created[4], created[5], late]
