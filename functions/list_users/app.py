"""GET /v1/Services/{ServiceSid}/Users - a page of the identities that have bindings (ours)."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.page_tokens import Paging, users_scope
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.users import ListUsersQuery
from notify_bindings.api.responses.users import UserPageResource
from notify_bindings.operations.users import list_users


@api_handler
def handler(request: ApiRequest) -> Response:
    query = request.query(ListUsersQuery)
    service_sid = request.service_sid
    paging = Paging(users_scope(service_sid), query)
    found = list_users(request.account_sid, service_sid, paging.key_cursor(), query.page_size)
    page = UserPageResource.of(
        found.items, base_url=request.base_url, service_sid=service_sid, links=paging.links(found)
    )
    return json_response(200, page)
