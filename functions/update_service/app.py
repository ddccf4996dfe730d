"""POST /v1/Services/{Sid} - change the settings given, leave the others."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.services import ServiceForm
from notify_bindings.api.responses.services import ServiceResource
from notify_bindings.operations.services import update_service


@api_handler
def handler(request: ApiRequest) -> Response:
    changes = request.form(ServiceForm).changes()
    service = update_service(request.account_sid, request.path_parameter("Sid"), changes)
    return json_response(200, ServiceResource.of(service, request.base_url))
