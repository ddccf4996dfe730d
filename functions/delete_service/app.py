"""DELETE /v1/Services/{Sid} - the Service at once, its bindings in the background."""

from notify_bindings.api import api_handler
from notify_bindings.http import ApiRequest, Response, empty_response
from notify_bindings.services import delete_service


@api_handler
def handler(request: ApiRequest) -> Response:
    delete_service(request.account_sid, request.path_parameter("Sid"))
    return empty_response(204)
