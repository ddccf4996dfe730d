"""$default - every request no route matches: Twilio's 404 or 405 error JSON."""

from notify_bindings.api.handler import Response, api_handler
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.routing import unmatched_route_error
from notify_bindings.dependencies import settings


@api_handler
def handler(request: ApiRequest) -> Response:
    raise unmatched_route_error(request.method, request.path, settings().api_routes)
