"""GET /v1/Services/{ServiceSid}/Users - a page of the identities that have bindings (ours)."""

from notify_bindings.api import api_handler
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.user_models import ListUsersQuery, UserPageResource
from notify_bindings.users import list_users


@api_handler
def handler(request: ApiRequest) -> Response:
    query = request.query(ListUsersQuery)
    found = list_users(request.account_sid, request.service_sid, query)
    page = UserPageResource.of(
        found.items,
        base_url=request.base_url,
        service_sid=request.service_sid,
        query=query,
        next_page_token=found.next_page_token,
        previous_page_token=found.previous_page_token,
    )
    return json_response(200, page)
