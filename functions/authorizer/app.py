"""The HTTP API's Lambda authorizer: which account the request's Basic credentials prove.

It lets every request through (the template's comment on the API's Auth says why): with the
account in the context when the credentials prove one, with an empty context when they do
not, and the route's handler then answers Twilio's 401 (20003).
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from notify_bindings.dependencies import authenticator
from notify_bindings.platform import deadline
from notify_bindings.platform.errors import ApiError
from notify_bindings.platform.observability import failure, logger

Response = dict[str, Any]


class AuthorizerFailed(RuntimeError):
    def __init__(self) -> None:
        super().__init__("The credentials could not be checked")


def _authorize(event: dict[str, Any], context: Any) -> Response:
    headers = event.get("headers") or {}
    try:
        with deadline.bounded_by(context):  # answer before Lambda's timeout cuts us off
            account_sid = authenticator().account_for(headers.get("authorization"))
    except ApiError as error:
        # DynamoDB throttled or unavailable: the credentials are unchecked, not wrong, so the
        # handler can answer with this code (429, 503) rather than a misleading 401.
        logger.warning("Credentials not checked", extra={"code": error.code})
        return {"isAuthorized": True, "context": {"authError": str(error.code)}}
    except Exception as unexpected:
        # Lambda would log the exception's message, which can hold what the client sent: log
        # what failed, then fail without it (API Gateway answers 500, as for any failure).
        logger.error("Credentials not checked", extra=failure(unexpected))
        raise AuthorizerFailed() from None
    return {"isAuthorized": True, "context": {"accountSid": account_sid} if account_sid else {}}


# The event carries the credentials: it is never logged, whatever POWERTOOLS_LOGGER_LOG_EVENT says.
handler = logger.inject_lambda_context(
    _authorize, log_event=False, correlation_id_path=correlation_paths.API_GATEWAY_HTTP
)
