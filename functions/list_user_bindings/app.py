"""GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings - a page of one identity's bindings,
by tag, date and address (ours)."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.page_tokens import Paging, user_bindings_scope
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.binding_lists import ListUserBindingsQuery
from notify_bindings.api.requests.users import UserPath
from notify_bindings.api.responses.bindings import BindingPageResource
from notify_bindings.operations.users import list_user_bindings


@api_handler
def handler(request: ApiRequest) -> Response:
    service_sid, identity = request.service_sid, request.path_parameters(UserPath).identity
    query = request.query(ListUserBindingsQuery)
    paging = Paging(user_bindings_scope(service_sid, identity), query)
    found = list_user_bindings(
        request.account_sid, service_sid, query.filters(identity), paging.cursor(), query.page_size
    )
    page = BindingPageResource.of_user(
        found.items,
        base_url=request.base_url,
        service_sid=service_sid,
        identity=identity,
        links=paging.links(found),
    )
    return json_response(200, page)
