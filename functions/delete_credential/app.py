"""DELETE /v1/Credentials/{Sid} - the Credential and its sealed secrets, at once."""

from notify_bindings.api.handler import Response, api_handler, empty_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.operations.credentials import delete_credential


@api_handler
def handler(request: ApiRequest) -> Response:
    delete_credential(request.account_sid, request.path_parameter("Sid"))
    return empty_response(204)
