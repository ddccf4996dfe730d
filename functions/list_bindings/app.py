"""GET /v1/Services/{ServiceSid}/Bindings - a page of bindings, by identity, tag and date."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.page_tokens import Paging, bindings_scope
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.binding_lists import ListBindingsQuery
from notify_bindings.api.responses.bindings import BindingPageResource
from notify_bindings.operations.bindings import list_bindings


@api_handler
def handler(request: ApiRequest) -> Response:
    query = request.query(ListBindingsQuery)
    service_sid = request.service_sid
    paging = Paging(bindings_scope(service_sid), query)
    found = list_bindings(
        request.account_sid, service_sid, query.filters(), paging.cursor(), query.page_size
    )
    page = BindingPageResource.of(
        found.items, base_url=request.base_url, service_sid=service_sid, links=paging.links(found)
    )
    return json_response(200, page)
