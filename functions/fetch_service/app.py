"""GET /v1/Services/{Sid} - one of the caller's Services."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.responses.services import ServiceResource
from notify_bindings.operations.services import fetch_service


@api_handler
def handler(request: ApiRequest) -> Response:
    service = fetch_service(request.account_sid, request.path_parameter("Sid"))
    return json_response(200, ServiceResource.of(service, request.base_url))
