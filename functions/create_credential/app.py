"""POST /v1/Credentials - create a Credential in the caller's account."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.credentials import CredentialForm
from notify_bindings.api.responses.credentials import CredentialResource
from notify_bindings.operations.credentials import create_credential


@api_handler
def handler(request: ApiRequest) -> Response:
    form = request.form(CredentialForm)
    credential = create_credential(
        request.account_sid,
        form.type,
        form.material(),
        friendly_name=form.friendly_name,
        sandbox=form.sandbox,
    )
    return json_response(201, CredentialResource.of(credential, request.base_url))
