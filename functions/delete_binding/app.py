"""DELETE /v1/Services/{ServiceSid}/Bindings/{Sid} - remove a binding."""

from notify_bindings.api.handler import Response, api_handler, empty_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.operations.bindings import delete_binding


@api_handler
def handler(request: ApiRequest) -> Response:
    delete_binding(request.account_sid, request.service_sid, request.path_parameter("Sid"))
    return empty_response(204)
