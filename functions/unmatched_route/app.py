"""$default - every request no route matches: Twilio's 404 or 405 error JSON."""

from notify_bindings.api import api_handler
from notify_bindings.dependencies import settings
from notify_bindings.http import ApiRequest, Response
from notify_bindings.routing import unmatched_route_error


@api_handler
def handler(request: ApiRequest) -> Response:
    raise unmatched_route_error(request.method, request.path, settings().api_routes)
