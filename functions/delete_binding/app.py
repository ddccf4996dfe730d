"""DELETE /v1/Services/{ServiceSid}/Bindings/{Sid} - remove a binding."""

from notify_bindings.api import api_handler
from notify_bindings.bindings import delete_binding
from notify_bindings.http import ApiRequest, Response, empty_response


@api_handler
def handler(request: ApiRequest) -> Response:
    delete_binding(request.account_sid, request.service_sid, request.path_parameter("Sid"))
    return empty_response(204)
