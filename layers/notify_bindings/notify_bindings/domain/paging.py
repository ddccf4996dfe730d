"""Pages of a listing and where their neighbours start, for every list of the API.

A cursor says where a page starts: strictly after (the next page) or before (the previous one)
a key. Listings in creation order use SIDs as keys (`PageCursor`); the Users of a Service are
listed by identity, a key of any text (`KeyCursor`), which may also include the key itself.
A store reads a `Page` - its items, and whether more exist on either side - and `sid_listing`
or `key_listing` turns it into the `Listing` a client is shown: the items and the cursors of
the pages beside them. Cursors travel as page tokens, which are the API's
(`api/page_tokens.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from notify_bindings.platform.sids import predecessor, successor

T = TypeVar("T")
C = TypeVar("C")


class Direction(Enum):
    AFTER = 1
    BEFORE = 2


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Resume a listing strictly after (next page) or before (previous page) `sid`."""

    direction: Direction
    sid: str


@dataclass(frozen=True, slots=True)
class KeyCursor:
    """Resume a listing ordered by `key` after (or before) it; `inclusive` includes it."""

    direction: Direction
    key: str
    inclusive: bool = False


def forward(cursor: PageCursor | KeyCursor | None) -> bool:
    """Whether a page that starts at `cursor` reads in key order (from the start, or after)."""
    return cursor is None or cursor.direction is Direction.AFTER


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Items in key order, and whether more exist on either side of them.

    A page cut short by a read budget covers more keys than its items: `first_key` (reading
    backwards) or `last_key` (forwards) is then the last key it read, where the next page
    starts - past keys that matched nothing, so that no page reads them again.
    """

    items: list[T]
    more_before: bool
    more_after: bool
    first_key: str | None = None
    last_key: str | None = None


@dataclass(frozen=True, slots=True)
class Listing(Generic[T, C]):
    """A page as a client is shown it: its items, and where the pages before and after it
    start (None: there is none)."""

    items: list[T]
    before: C | None
    after: C | None


def window(
    ordered: Sequence[T], key: Callable[[T], str], cursor: PageCursor | None, size: int
) -> Page[T]:
    """The page of already sorted, in-memory `ordered` that `cursor` asks for."""
    if cursor is None:
        return Page(list(ordered[:size]), False, len(ordered) > size)
    if cursor.direction is Direction.AFTER:
        after = [item for item in ordered if key(item) > cursor.sid]
        return Page(after[:size], True, len(after) > size)
    before = [item for item in ordered if key(item) < cursor.sid]
    return Page(before[-size:], len(before) > size, True)


def merged(
    pages: Sequence[Page[T]], key: Callable[[T], str], size: int, *, forward: bool
) -> Page[T]:
    """One page out of pages of disjoint items read from the same cursor in one direction:
    the first `size` of them in that direction, and more on a side if any page had more.
    When a page was cut short by a read budget, the keys beyond where it stopped are unread
    for it: the merged page ends there too, and the next one resumes from there."""
    items = sorted((item for page in pages for item in page.items), key=key)
    before = any(page.more_before for page in pages)
    after = any(page.more_after for page in pages)
    if forward:
        stops = [page.last_key for page in pages if page.last_key is not None]
        if stops:
            items = [item for item in items if key(item) <= min(stops)]
            if len(items) <= size:
                return Page(items, before, True, last_key=min(stops))
        return Page(items[:size], before, after or len(items) > size)
    stops = [page.first_key for page in pages if page.first_key is not None]
    if stops:
        items = [item for item in items if key(item) >= max(stops)]
        if len(items) <= size:
            return Page(items, True, after, first_key=max(stops))
    return Page(items[-size:] if size else [], before or len(items) > size, after)


def spanned(pages: Sequence[Page[T]], key: Callable[[T], str]) -> Page[T]:
    """One page out of pages of disjoint items read forwards from the same cursor, none of
    them left out: every item up to the first key where one of the pages stopped short of
    what it holds (its last item, or where a read budget cut it), and that key as where the
    next page starts. Unlike `merged`, the page may hold more items than any one page read:
    what was read once within that span is never read again."""
    items = sorted((item for page in pages for item in page.items), key=key)
    before = any(page.more_before for page in pages)
    stops = [_ends(page, key)[1] for page in pages if page.more_after]
    if not stops:
        return Page(items, before, False)
    ends = [stop for stop in stops if stop is not None]
    if len(ends) < len(stops):
        raise ValueError("a page with more after it names where it stopped")
    end = min(ends)
    return Page([item for item in items if key(item) <= end], before, True, last_key=end)


def sid_listing(
    page: Page[T], sid_of: Callable[[T], str], cursor: PageCursor | None
) -> Listing[T, PageCursor]:
    """The page with the cursors of its neighbours. They start just past its first and last
    SIDs (or the keys it read up to, when a read budget cut it short); an empty page (its
    items deleted meanwhile) leads back to the SID its cursor named, which it then includes."""
    first, last = _ends(page, sid_of)
    if not page.items and cursor is not None:
        if cursor.direction is Direction.AFTER:
            first = successor(cursor.sid)
        else:
            last = predecessor(cursor.sid)
    before = PageCursor(Direction.BEFORE, first) if page.more_before and first else None
    after = PageCursor(Direction.AFTER, last) if page.more_after and last else None
    return Listing(page.items, before, after)


def key_listing(
    page: Page[T], key_of: Callable[[T], str], cursor: KeyCursor | None
) -> Listing[T, KeyCursor]:
    """The page with the cursors of its neighbours, as `sid_listing` has them; keys of any
    text have no neighbouring key to name, so an empty page leads back to its cursor's own key,
    included where the cursor left it out (and the other way round)."""
    first, last = _ends(page, key_of)
    before = KeyCursor(Direction.BEFORE, first) if page.more_before and first else None
    after = KeyCursor(Direction.AFTER, last) if page.more_after and last else None
    if not page.items and cursor is not None:
        back = KeyCursor(_opposite(cursor.direction), cursor.key, not cursor.inclusive)
        if cursor.direction is Direction.AFTER:
            before = back
        else:
            after = back
    return Listing(page.items, before, after)


def _ends(page: Page[T], key_of: Callable[[T], str]) -> tuple[str | None, str | None]:
    """Where the page begins and ends: its first and last keys, or the keys it read up to."""
    first = page.first_key or (key_of(page.items[0]) if page.items else None)
    last = page.last_key or (key_of(page.items[-1]) if page.items else None)
    return first, last


def _opposite(direction: Direction) -> Direction:
    return Direction.BEFORE if direction is Direction.AFTER else Direction.AFTER
