"""POST /v1/Credentials/{Sid} - change what is given; new secrets are checked and sealed."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.credentials import CredentialUpdateForm
from notify_bindings.api.responses.credentials import CredentialResource
from notify_bindings.operations.credentials import update_credential


@api_handler
def handler(request: ApiRequest) -> Response:
    form = request.form(CredentialUpdateForm)
    credential = update_credential(
        request.account_sid,
        request.path_parameter("Sid"),
        form.material(),
        friendly_name=form.friendly_name,
        sandbox=form.sandbox,
    )
    return json_response(200, CredentialResource.of(credential, request.base_url))
