"""GET /v1/Services/{ServiceSid}/Users/{Identity} - an identity and its binding count (ours)."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.users import UserPath
from notify_bindings.api.responses.users import UserResource
from notify_bindings.operations.users import fetch_user


@api_handler
def handler(request: ApiRequest) -> Response:
    service_sid, path = request.service_sid, request.path_parameters(UserPath)
    user = fetch_user(request.account_sid, service_sid, path.identity)
    return json_response(200, UserResource.of(user, request.base_url))
