"""What every page of a list says beside its items: Twilio's `meta`, with absolute URLs on the
serving host and the list's filters echoed, and Twilio's format of dates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict

TWILIO_DATE = "%Y-%m-%dT%H:%M:%SZ"


class PageLinks(NamedTuple):
    """What a page's URLs carry: the list's filters, the page asked for (its size, number and
    token), and the tokens of the pages before and after it (None: there is none)."""

    filters: Sequence[tuple[str, str]]
    page_size: int
    page: int
    page_token: str | None
    next_page_token: str | None
    previous_page_token: str | None


class PageMeta(BaseModel):
    model_config = ConfigDict(defer_build=True)

    page: int
    page_size: int
    first_page_url: str
    previous_page_url: str | None
    url: str
    next_page_url: str | None
    key: str

    @classmethod
    def of(cls, list_url: str, key: str, links: PageLinks) -> PageMeta:
        """Twilio's `meta`: absolute URLs on the serving host, the filters echoed."""

        def url(number: int, token: str | None) -> str:
            pairs = [*links.filters, ("PageSize", str(links.page_size)), ("Page", str(number))]
            if token:
                pairs.append(("PageToken", token))
            return f"{list_url}?{urlencode(pairs)}"

        page, previous_token = links.page, links.previous_page_token
        return cls(
            page=page,
            page_size=links.page_size,
            first_page_url=url(0, None),
            previous_page_url=url(max(page - 1, 0), previous_token) if previous_token else None,
            url=url(page, links.page_token),
            next_page_url=url(page + 1, links.next_page_token) if links.next_page_token else None,
            key=key,
        )
