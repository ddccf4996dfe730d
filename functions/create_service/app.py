"""POST /v1/Services - create a Service in the caller's account."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.services import ServiceForm
from notify_bindings.api.responses.services import ServiceResource
from notify_bindings.operations.services import create_service


@api_handler
def handler(request: ApiRequest) -> Response:
    service = create_service(request.account_sid, request.form(ServiceForm).changes())
    return json_response(201, ServiceResource.of(service, request.base_url))
