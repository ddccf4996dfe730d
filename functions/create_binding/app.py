"""POST /v1/Services/{ServiceSid}/Bindings - create a binding, or replace the one at its address."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.bindings import CreateBindingForm
from notify_bindings.api.responses.bindings import BindingResource
from notify_bindings.operations.bindings import create_binding


@api_handler
def handler(request: ApiRequest) -> Response:
    registration = request.form(CreateBindingForm).registration()
    result = create_binding(request.account_sid, request.service_sid, registration)
    return json_response(201, BindingResource.of(result.binding, request.base_url))
