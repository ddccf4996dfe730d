"""Pages and the cursors of their neighbours, in memory (domain/paging.py): what every list
answers, whatever store read its page."""

from __future__ import annotations

from notify_bindings.domain.paging import (
    Direction,
    KeyCursor,
    Page,
    PageCursor,
    key_listing,
    merged,
    sid_listing,
    spanned,
    window,
)

SIDS = [f"BS{n:032x}" for n in range(1, 8)]  # seven SIDs in order
# Empty pages, their items deleted meanwhile, read after (and before) a cursor.
NOTHING_AFTER: Page[str] = Page([], True, False)
NOTHING_BEFORE: Page[str] = Page([], False, True)


def same(value: str) -> str:
    return value


def test_given_sorted_items_when_windowed_then_each_cursor_gets_its_page_and_knows_its_sides():
    first = window(SIDS, same, None, 3)
    after = window(SIDS, same, PageCursor(Direction.AFTER, SIDS[2]), 3)
    before = window(SIDS, same, PageCursor(Direction.BEFORE, SIDS[3]), 2)

    assert (first.items, first.more_before, first.more_after) == (SIDS[:3], False, True)
    assert (after.items, after.more_before, after.more_after) == (SIDS[3:6], True, True)
    assert (before.items, before.more_before, before.more_after) == (SIDS[1:3], True, True)


def test_given_a_page_when_listed_then_its_neighbours_start_just_past_its_ends():
    listing = sid_listing(Page(SIDS[2:4], True, True), same, PageCursor(Direction.AFTER, SIDS[1]))

    assert listing.before == PageCursor(Direction.BEFORE, SIDS[2])
    assert listing.after == PageCursor(Direction.AFTER, SIDS[3])


def test_given_an_empty_page_after_a_sid_then_its_previous_page_includes_that_sid():
    listing = sid_listing(NOTHING_AFTER, same, PageCursor(Direction.AFTER, SIDS[4]))

    assert listing.after is None
    assert listing.before == PageCursor(Direction.BEFORE, f"BS{5 + 1:032x}")  # just past it


def test_given_an_empty_page_of_keys_then_it_leads_back_including_its_cursors_key():
    after = key_listing(NOTHING_AFTER, same, KeyCursor(Direction.AFTER, "bob"))
    before = key_listing(NOTHING_BEFORE, same, KeyCursor(Direction.BEFORE, "bob", True))

    assert (after.before, after.after) == (KeyCursor(Direction.BEFORE, "bob", True), None)
    assert (before.before, before.after) == (None, KeyCursor(Direction.AFTER, "bob", False))


def test_given_a_page_cut_short_by_its_read_budget_then_the_next_starts_where_it_stopped():
    listing = key_listing(Page(["alice"], False, True, last_key="carol"), same, None)

    assert listing.before is None
    assert listing.after == KeyCursor(Direction.AFTER, "carol")


def test_given_pages_of_two_partitions_when_merged_then_none_goes_past_where_one_stopped():
    whole = Page([SIDS[0], SIDS[5]], False, False)
    budgeted = Page([SIDS[1]], False, True, last_key=SIDS[3])

    page = merged([whole, budgeted], same, 5, forward=True)

    assert page.items == [SIDS[0], SIDS[1]]  # SIDS[5] lies past what the budget read
    assert (page.more_after, page.last_key) == (True, SIDS[3])


def test_given_pages_of_two_partitions_when_spanned_then_every_item_up_to_the_first_stop_is_kept():
    full = Page([SIDS[0], SIDS[2], SIDS[4]], False, True)  # its last item, then more
    within = Page([SIDS[1], SIDS[3]], False, False)  # every match up to SIDS[4]

    page = spanned([full, within], same)

    assert page.items == [SIDS[0], SIDS[1], SIDS[2], SIDS[3], SIDS[4]]  # more than either
    assert (page.more_after, page.last_key) == (True, SIDS[4])


def test_given_a_page_that_stopped_first_when_spanned_then_nothing_past_its_stop_is_kept():
    whole = Page([SIDS[0], SIDS[5]], False, False)
    budgeted = Page([SIDS[1]], False, True, last_key=SIDS[3])

    page = spanned([whole, budgeted], same)

    assert page.items == [SIDS[0], SIDS[1]]
    assert (page.more_after, page.last_key) == (True, SIDS[3])


def test_given_pages_that_read_everything_when_spanned_then_it_is_the_last_page():
    page = spanned([Page([SIDS[2]], True, False), Page([SIDS[1]], True, False)], same)

    assert page == Page([SIDS[1], SIDS[2]], True, False)
