"""DELETE /v1/Services/{Sid} - the Service at once, its bindings in the background."""

from notify_bindings.api.handler import Response, api_handler, empty_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.operations.services import delete_service


@api_handler
def handler(request: ApiRequest) -> Response:
    delete_service(request.account_sid, request.path_parameter("Sid"))
    return empty_response(204)
