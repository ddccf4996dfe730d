"""GET /v1/Credentials/{Sid} - one of the caller's Credentials, without its secrets."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.responses.credentials import CredentialResource
from notify_bindings.operations.credentials import fetch_credential


@api_handler
def handler(request: ApiRequest) -> Response:
    credential = fetch_credential(request.account_sid, request.path_parameter("Sid"))
    return json_response(200, CredentialResource.of(credential, request.base_url))
