"""DELETE /v1/Services/{ServiceSid}/Users/{Identity} - erase an identity: every binding of it,
at once to every reader (ours)."""

from notify_bindings.api import api_handler
from notify_bindings.http import ApiRequest, Response, empty_response
from notify_bindings.platform.errors import NotFound
from notify_bindings.user_models import identity_from_path
from notify_bindings.users import delete_user


@api_handler
def handler(request: ApiRequest) -> Response:
    service_sid = request.service_sid
    identity = identity_from_path(request.path_parameter("Identity"))
    if identity is None:
        raise NotFound(request.path)
    delete_user(request.account_sid, service_sid, identity)
    return empty_response(204)
