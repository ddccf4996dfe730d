"""GET /v1/Services - a page of the caller's Services, optionally by FriendlyName."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.page_tokens import Paging, services_scope
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.service_lists import ListServicesQuery
from notify_bindings.api.responses.services import ServicePageResource
from notify_bindings.operations.services import list_services


@api_handler
def handler(request: ApiRequest) -> Response:
    account_sid, query = request.account_sid, request.query(ListServicesQuery)
    paging = Paging(services_scope(account_sid), query)
    found = list_services(account_sid, query.friendly_name, paging.cursor(), query.page_size)
    page = ServicePageResource.of(found.items, base_url=request.base_url, links=paging.links(found))
    return json_response(200, page)
