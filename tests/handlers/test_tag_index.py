"""The tag index: a list by several tags reads only the bindings it returns.

A binding with at most MAX_COMBINED_TAGS index tags (its tags and its binding type) is listed
under every combination of them; one with more is listed in the many-tags partition, which a
list by several tags reads (with a filter) only while the Service holds such bindings. Items
read are counted from DynamoDB's own answers (ScannedCount of each Query, the items of each
BatchGetItem), on the functions' client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from notify_bindings.dal.bindings.items import MAX_COMBINED_TAGS
from notify_bindings.dal.bindings.reads import ReadBudgets
from notify_bindings.dal.bindings.store import Limits
from tests.conftest import Reply
from tests.handlers.helpers import DELETE, LIST, bindings_path, create
from tests.invariants import assert_service_consistent

TABLES = ("BindingsTable", "BindingIndexTable")  # as the tests' functions name them
MANY = [f"t{number}" for number in range(MAX_COMBINED_TAGS)]  # with the type: one too many


class ItemsRead:
    def __init__(self) -> None:
        self.total = 0

    def answered(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            self.total += parsed.get("ScannedCount", 0)
        elif model.name == "BatchGetItem":
            self.total += sum(len(items) for items in parsed.get("Responses", {}).values())
        elif model.name == "GetItem":
            self.total += "Item" in parsed


@contextmanager
def items_read() -> Iterator[ItemsRead]:
    from notify_bindings import dependencies

    events = dependencies.dynamodb().meta.events
    counter = ItemsRead()
    events.register("after-call.dynamodb", counter.answered, unique_id="items-read")
    try:
        yield counter
    finally:
        events.unregister("after-call.dynamodb", unique_id="items-read")


def listed(invoke: Any, service_sid: str, **query: Any) -> Reply:
    reply: Reply = invoke(LIST, bindings_path(service_sid), query=query)
    assert reply.status == 200, reply.body
    return reply


def sids(reply: Reply) -> list[str]:
    return [binding["sid"] for binding in reply.json()["bindings"]]


def every_page(invoke: Any, service_sid: str, **query: Any) -> Iterator[Reply]:
    reply = listed(invoke, service_sid, **query)
    yield reply
    while next_url := reply.json()["meta"]["next_page_url"]:
        parts = urlsplit(next_url)
        reply = invoke(LIST, parts.path, query=parse_qsl(parts.query))
        assert reply.status == 200, reply.body
        yield reply


@pytest.fixture
def tagged(invoke: Any, service_sid: str) -> Callable[..., str]:
    numbers = iter(range(10_000))

    def make(*tags: str, binding_type: str = "fcm") -> str:
        number = next(numbers)
        binding = create(
            invoke,
            service_sid,
            Identity=f"user-{number % 7}",
            BindingType=binding_type,
            Address=f"token-{number}",
            Tag=list(tags),
        )
        return str(binding["sid"])

    return make


def test_given_few_bindings_with_both_tags_among_many_with_one_when_listed_by_both_then_only_they_are_read(  # noqa: E501
    invoke, service_sid, tagged
):
    both = [tagged("news", "sports") for _ in range(3)]
    for _ in range(30):
        tagged("news")
    tagged("sports")

    with items_read() as read:
        reply = listed(invoke, service_sid, Tag=["news", "sports"])

    assert sids(reply) == both
    # The Service's item and its tag statistics, then one item per binding returned.
    assert read.total <= 2 + len(both), read.total


def test_given_a_type_and_a_tag_when_listed_by_both_then_the_combination_answers(
    invoke, service_sid, tagged
):
    wanted = [tagged("vip", binding_type="apn"), tagged("vip", "news", binding_type="apn")]
    tagged("vip", binding_type="fcm")
    tagged("news", binding_type="apn")

    with items_read() as read:
        reply = listed(invoke, service_sid, Tag=["apn", "vip", "all"])

    assert sids(reply) == wanted
    assert read.total <= 2 + len(wanted), read.total


def test_given_five_tag_filters_when_listed_then_only_bindings_with_all_five_are_read(
    invoke, service_sid, tagged
):
    tags = MANY[: MAX_COMBINED_TAGS - 1]  # four tags and the type: five index tags, combined
    wanted = tagged(*tags)
    for dropped in tags:
        tagged(*[tag for tag in tags if tag != dropped])

    with items_read() as read:
        reply = listed(invoke, service_sid, Tag=[*tags, "fcm"])

    assert sids(reply) == [wanted]
    assert read.total <= 3, read.total


def test_given_bindings_with_more_tags_than_combined_when_listed_by_two_then_merged_in_order_over_pages(  # noqa: E501
    invoke, service_sid, tagged
):
    created = [
        tagged(*MANY),  # six index tags: the many-tags partition
        tagged("t0", "t1"),
        tagged(*MANY, "extra"),
        tagged("t0"),  # not both
        tagged("t1", "t0", "other"),
        tagged(*MANY),
    ]
    wanted = [sid for number, sid in enumerate(created) if number != 3]

    pages = list(every_page(invoke, service_sid, Tag=["t1", "t0"], PageSize=2))

    assert [sids(page) for page in pages] == [wanted[0:2], wanted[2:4], wanted[4:5]]
    back = pages[-1].json()["meta"]["previous_page_url"]
    parts = urlsplit(back)
    previous = invoke(LIST, parts.path, query=parse_qsl(parts.query))
    assert sids(previous) == wanted[2:4]


def test_given_a_full_page_of_a_combination_when_listed_by_two_then_the_many_tags_partition_is_read_only_up_to_its_last_sid(  # noqa: E501
    invoke, service_sid, tagged
):
    first = [tagged("x", "y") for _ in range(3)]
    for _ in range(20):  # later than the first page's SIDs, and not listed
        tagged(*MANY, "x")
    last = tagged("x", "y")

    with items_read() as read:
        reply = listed(invoke, service_sid, Tag=["x", "y"], PageSize=2)
    pages = list(every_page(invoke, service_sid, Tag=["x", "y"], PageSize=2))

    assert sids(reply) == first[:2]
    # The Service and the stats item, and the page (and one more) of the combination's
    # partition: none of the many-tags items, which all come after the page's last SID.
    assert read.total <= 2 + 3, read.total
    assert [sid for page in pages for sid in sids(page)] == [*first, last]


def test_given_many_tag_bindings_inside_and_past_a_full_page_when_listed_by_two_then_those_inside_are_listed_and_none_past_is_read(  # noqa: E501
    invoke, service_sid, tagged
):
    pair = tagged("x", "y")
    inside = tagged(*MANY, "x", "y")  # within the combination's first page: listed
    second = tagged("x", "y")
    tagged(*MANY, "x")  # within it too, but not both tags: read, and filtered out
    third = tagged("x", "y")  # the combination's third: the page's span ends here
    later = [tagged(*MANY, "x", "y") for _ in range(12)]  # past the span: not read
    last = tagged("x", "y")

    with items_read() as read:
        reply = listed(invoke, service_sid, Tag=["x", "y"], PageSize=3)
    pages = list(every_page(invoke, service_sid, Tag=["x", "y"], PageSize=3))

    assert sids(reply) == [pair, inside, second]
    # The Service and the stats item; the combination's page and one more; the two many-tags
    # items within its span, and none of the twelve past it.
    assert read.total <= 2 + 4 + 2, read.total
    listed_sids = [sid for page in pages for sid in sids(page)]
    assert listed_sids == [pair, inside, second, third, *later, last]


def test_given_many_tag_bindings_replaced_and_deleted_then_the_index_is_exact_and_lists_stop_reading_them(  # noqa: E501
    invoke, service_sid, tagged, dynamodb
):
    many = tagged(*MANY)
    few = tagged("t0", "t1")
    assert_service_consistent(dynamodb, *TABLES, service_sid)

    # The address of the first binding (token-0) now holds a binding with two tags.
    replaced = create(
        invoke, service_sid, Identity="user-0", BindingType="fcm", Address="token-0", Tag=["t0"]
    )
    assert replaced["sid"] != many
    assert_service_consistent(dynamodb, *TABLES, service_sid)
    with items_read() as read:
        reply = listed(invoke, service_sid, Tag=["t0", "t1"])
    assert sids(reply) == [few]
    assert read.total <= 2 + 1, read.total  # no many-tags binding left: that partition unread

    again = tagged(*MANY)
    assert invoke(DELETE, f"{bindings_path(service_sid)}/{again}").status == 204
    assert_service_consistent(dynamodb, *TABLES, service_sid)


def test_given_many_tag_bindings_that_rarely_match_when_listed_by_two_then_each_page_stops_at_the_read_budget_and_none_is_missed(  # noqa: E501
    invoke, service_sid, tagged, store_limits
):
    budget = 4
    store_limits(Limits(reads=ReadBudgets(many_tags=budget)))
    wanted = []
    for _ in range(2 * budget):  # pages that find nothing before their budget runs out
        tagged(*MANY, "x")
    for number in range(24):
        if number == 12:  # and pages in the middle that find nothing, both ways
            for _ in range(2 * budget):
                tagged(*MANY, "x")
        if number % 8 == 7:
            wanted.append(tagged(*MANY, "x", "y"))  # many-tags, listed
        elif number % 8 == 3:
            wanted.append(tagged("x", "y"))  # the combination's own partition, listed
        else:
            tagged(*MANY, "x")  # many-tags, not listed: what the filter reads for nothing

    forward, reads = [], []
    reply: Reply | None = None
    query: Any = {"Tag": ["x", "y"], "PageSize": 2}
    path = bindings_path(service_sid)
    while True:
        with items_read() as read:
            reply = invoke(LIST, path, query=query)
        assert reply.status == 200, reply.body
        forward.append(sids(reply))
        reads.append(read.total)
        next_url = reply.json()["meta"]["next_page_url"]
        if not next_url:
            break
        parts = urlsplit(next_url)
        path, query = parts.path, parse_qsl(parts.query)

    assert [sid for page in forward for sid in page] == wanted
    assert forward[0] == []  # a page the budget cut short before it found anything
    assert any(len(page) == 1 for page in forward[:-1])
    # The Service and the stats item, the page (and one more) of the combination's
    # partition, and the budget of the many-tags partition.
    assert max(reads) <= 2 + 3 + budget, reads

    backward: list[list[str]] = []
    while previous_url := reply.json()["meta"]["previous_page_url"]:
        parts = urlsplit(previous_url)
        reply = invoke(LIST, parts.path, query=parse_qsl(parts.query))
        assert reply.status == 200, reply.body
        backward.insert(0, sids(reply))
    assert [sid for page in backward for sid in page] + forward[-1] == wanted
    assert backward[0] == []  # back to the start, through the bindings before the first match
