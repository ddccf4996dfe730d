"""GET /v1/Services/{ServiceSid}/Bindings/{Sid} - one binding."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.responses.bindings import BindingResource
from notify_bindings.operations.bindings import fetch_binding


@api_handler
def handler(request: ApiRequest) -> Response:
    binding = fetch_binding(request.account_sid, request.service_sid, request.path_parameter("Sid"))
    return json_response(200, BindingResource.of(binding, request.base_url))
