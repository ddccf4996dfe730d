"""GET /v1/Services - a page of the caller's Services, optionally by FriendlyName."""

from notify_bindings.api import api_handler
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.service_api import ListServicesQuery, ServicePageResource
from notify_bindings.services import list_services


@api_handler
def handler(request: ApiRequest) -> Response:
    query = request.query(ListServicesQuery)
    found = list_services(request.account_sid, query)
    page = ServicePageResource.of(
        found.items,
        base_url=request.base_url,
        query=query,
        next_page_token=found.next_page_token,
        previous_page_token=found.previous_page_token,
    )
    return json_response(200, page)
