"""GET /v1/Services/{Sid} - one of the caller's Services."""

from notify_bindings.api import api_handler
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.service_api import ServiceResource
from notify_bindings.services import fetch_service


@api_handler
def handler(request: ApiRequest) -> Response:
    service = fetch_service(request.account_sid, request.path_parameter("Sid"))
    return json_response(200, ServiceResource.of(service, request.base_url))
