"""GET /v1/Services/{ServiceSid}/Bindings - a page of bindings, by identity, tag and date."""

from notify_bindings.api import api_handler
from notify_bindings.binding_forms import ListBindingsQuery
from notify_bindings.bindings import list_bindings
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.models import BindingPageResource


@api_handler
def handler(request: ApiRequest) -> Response:
    query = request.query(ListBindingsQuery)
    found = list_bindings(request.account_sid, request.service_sid, query)
    page = BindingPageResource.of(
        found.items,
        base_url=request.base_url,
        service_sid=request.service_sid,
        query=query,
        next_page_token=found.next_page_token,
        previous_page_token=found.previous_page_token,
    )
    return json_response(200, page)
