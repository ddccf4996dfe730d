"""POST /v1/Services/{ServiceSid}/DeadTokens - a push service rejected an address: remove the
binding holding it (ours)."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.dead_tokens import ReportDeadTokenForm
from notify_bindings.api.responses.dead_tokens import DeadTokenReportResource
from notify_bindings.operations.dead_tokens import report_dead_token


@api_handler
def handler(request: ApiRequest) -> Response:
    form = request.form(ReportDeadTokenForm)
    account_sid, service_sid = request.account_sid, request.service_sid
    removed = report_dead_token(
        account_sid, service_sid, form.address, binding_sid=form.binding_sid, reason=form.reason
    )
    report = DeadTokenReportResource.of(account_sid, service_sid, removed, form.reason)
    return json_response(200, report)
