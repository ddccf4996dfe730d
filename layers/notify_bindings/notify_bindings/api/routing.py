"""Requests that match no route: Twilio answers 405 for a known path, 404 for any other."""

from __future__ import annotations

import re
from collections.abc import Iterable

from notify_bindings.platform.errors import ApiError, MethodNotAllowed, NotFound


def unmatched_route_error(method: str, path: str, routes: Iterable[str]) -> ApiError:
    """The error for `method path`, given the API's routes as "METHOD /path/{Param}" keys."""
    allowed = [
        route_method
        for route_method, template in (route.split(" ", 1) for route in routes)
        if _pattern(template).fullmatch(path)
    ]
    return MethodNotAllowed(method, allowed) if allowed else NotFound(path)


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)))
