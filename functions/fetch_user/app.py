"""GET /v1/Services/{ServiceSid}/Users/{Identity} - an identity and its binding count (ours)."""

from notify_bindings.api import api_handler
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.platform.errors import NotFound
from notify_bindings.user_models import UserResource, identity_from_path
from notify_bindings.users import fetch_user


@api_handler
def handler(request: ApiRequest) -> Response:
    service_sid = request.service_sid
    identity = identity_from_path(request.path_parameter("Identity"))
    if identity is None:
        raise NotFound(request.path)
    user = fetch_user(request.account_sid, service_sid, identity)
    return json_response(200, UserResource.of(user, request.base_url))
