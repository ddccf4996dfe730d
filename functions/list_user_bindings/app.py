"""GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings - a page of one identity's bindings,
by tag, date and address (ours)."""

from notify_bindings.api import api_handler
from notify_bindings.binding_forms import ListUserBindingsQuery
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.models import BindingPageResource
from notify_bindings.platform.errors import NotFound
from notify_bindings.user_models import identity_from_path
from notify_bindings.users import list_user_bindings


@api_handler
def handler(request: ApiRequest) -> Response:
    service_sid = request.service_sid
    identity = identity_from_path(request.path_parameter("Identity"))
    if identity is None:
        raise NotFound(request.path)
    query = request.query(ListUserBindingsQuery)
    found = list_user_bindings(request.account_sid, service_sid, identity, query)
    page = BindingPageResource.of_user(
        found.items,
        base_url=request.base_url,
        service_sid=service_sid,
        identity=identity,
        query=query,
        next_page_token=found.next_page_token,
        previous_page_token=found.previous_page_token,
    )
    return json_response(200, page)
