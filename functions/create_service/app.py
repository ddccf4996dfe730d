"""POST /v1/Services - create a Service in the caller's account."""

from notify_bindings.api import api_handler
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.service_api import ServiceForm, ServiceResource
from notify_bindings.services import create_service


@api_handler
def handler(request: ApiRequest) -> Response:
    service = create_service(request.account_sid, request.form(ServiceForm))
    return json_response(201, ServiceResource.of(service, request.base_url))
