"""From a page of a store to the tokens of its neighbours, for any listing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from notify_bindings import dependencies
from notify_bindings.dynamo import Page
from notify_bindings.platform.sids import predecessor, successor
from notify_bindings.tokens import Direction, Filters, PageCursor

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    items: list[T]
    next_page_token: str | None
    previous_page_token: str | None


def cursor_of(token: str | None, scope: str, filters: Filters) -> PageCursor | None:
    """Where the page asked for starts; raises InvalidPageToken for a token not issued here."""
    return dependencies.page_tokens().read(token, scope, filters) if token else None


def listing(
    page: Page[T],
    sid_of: Callable[[T], str],
    cursor: PageCursor | None,
    scope: str,
    filters: Filters,
) -> Listing[T]:
    """The page with tokens for its neighbours. They start just past its first and last SIDs
    (or the keys it read up to, when a read budget cut it short); an empty page (its items
    deleted meanwhile) leads back to the SID its cursor named."""
    tokens = dependencies.page_tokens()
    filters = list(filters)
    first = page.first_key or (sid_of(page.items[0]) if page.items else None)
    last = page.last_key or (sid_of(page.items[-1]) if page.items else None)
    if not page.items and cursor is not None:
        if cursor.direction is Direction.AFTER:
            first = successor(cursor.sid)
        else:
            last = predecessor(cursor.sid)
    next_token = previous_token = None
    if page.more_after and last:
        next_token = tokens.issue(scope, filters, PageCursor(Direction.AFTER, last))
    if page.more_before and first:
        previous_token = tokens.issue(scope, filters, PageCursor(Direction.BEFORE, first))
    return Listing(page.items, next_token, previous_token)
