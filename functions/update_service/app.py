"""POST /v1/Services/{Sid} - change the settings given, leave the others."""

from notify_bindings.api import api_handler
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.service_api import ServiceForm, ServiceResource
from notify_bindings.services import update_service


@api_handler
def handler(request: ApiRequest) -> Response:
    form = request.form(ServiceForm)
    service = update_service(request.account_sid, request.path_parameter("Sid"), form)
    return json_response(200, ServiceResource.of(service, request.base_url))
