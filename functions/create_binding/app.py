"""POST /v1/Services/{ServiceSid}/Bindings - create a binding, or replace the one at its address."""

from notify_bindings.api import api_handler
from notify_bindings.binding_forms import CreateBindingForm
from notify_bindings.bindings import create_binding
from notify_bindings.http import ApiRequest, Response, json_response
from notify_bindings.models import BindingResource


@api_handler
def handler(request: ApiRequest) -> Response:
    form = request.form(CreateBindingForm)
    result = create_binding(request.account_sid, request.service_sid, form)
    return json_response(201, BindingResource.of(result.binding, request.base_url))
