"""DELETE /v1/Services/{ServiceSid}/Users/{Identity} - erase an identity: every binding of it,
at once to every reader (ours)."""

from notify_bindings.api.handler import Response, api_handler, empty_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.users import UserPath
from notify_bindings.operations.users import delete_user


@api_handler
def handler(request: ApiRequest) -> Response:
    service_sid, user = request.service_sid, request.path_parameters(UserPath)
    delete_user(request.account_sid, service_sid, user.identity)
    return empty_response(204)
