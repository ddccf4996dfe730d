"""GET /v1/Credentials - a page of the caller's Credentials, without their secrets."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.page_tokens import Paging, credentials_scope
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.credentials import ListCredentialsQuery
from notify_bindings.api.responses.credentials import CredentialPageResource
from notify_bindings.operations.credentials import list_credentials


@api_handler
def handler(request: ApiRequest) -> Response:
    account_sid, query = request.account_sid, request.query(ListCredentialsQuery)
    paging = Paging(credentials_scope(account_sid), query)
    found = list_credentials(account_sid, paging.cursor(), query.page_size)
    page = CredentialPageResource.of(
        found.items, base_url=request.base_url, links=paging.links(found)
    )
    return json_response(200, page)
