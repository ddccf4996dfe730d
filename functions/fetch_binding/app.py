"""GET /v1/Services/{ServiceSid}/Bindings/{Sid} - one binding."""

from notify_bindings.api import api_handler
from notify_bindings.bindings import fetch_binding
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.models import BindingResource


@api_handler
def handler(request: ApiRequest) -> Response:
    binding = fetch_binding(request.account_sid, request.service_sid, request.path_parameter("Sid"))
    return json_response(200, BindingResource.of(binding, request.base_url))
