"""POST /v1/Services/{ServiceSid}/DeadTokens - a push service rejected an address: remove the
binding holding it (ours)."""

from notify_bindings.api import api_handler
from notify_bindings.dead_token_models import ReportDeadTokenForm
from notify_bindings.dead_tokens import report_dead_token
from notify_bindings.http import ApiRequest, Response, json_response


@api_handler
def handler(request: ApiRequest) -> Response:
    form = request.form(ReportDeadTokenForm)
    report = report_dead_token(request.account_sid, request.service_sid, form)
    return json_response(200, report)
