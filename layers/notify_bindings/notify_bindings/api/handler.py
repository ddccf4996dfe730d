"""What every API handler shares: logging and metrics, the request, its deadline, the Lambda
proxy responses, and the one place where a domain error becomes Twilio's error JSON. Nothing a
client sends can produce a 500."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel

from notify_bindings import dependencies
from notify_bindings.api.request import ApiRequest
from notify_bindings.platform import deadline
from notify_bindings.platform.errors import ApiError, InternalError, error_body
from notify_bindings.platform.observability import failure, logger, metrics

Response = dict[str, Any]
Operation = Callable[[ApiRequest], Response]
LambdaHandler = Callable[[dict[str, Any], Any], Response]


def api_handler(operation: Operation) -> LambdaHandler:
    # The event holds the request's identities, addresses and credentials: never logged.
    @logger.inject_lambda_context(
        log_event=False, correlation_id_path=correlation_paths.API_GATEWAY_HTTP
    )
    @metrics.log_metrics(capture_cold_start_metric=True)
    @functools.wraps(operation)
    def handler(event: dict[str, Any], context: Any) -> Response:
        try:
            request = ApiRequest(event, dependencies.settings().public_base_url)
            _ = request.account_sid  # authenticated before anything else is looked at
            with deadline.bounded_by(context):  # answer before Lambda's timeout cuts us off
                return operation(request)
        except ApiError as error:
            logger.info("Request refused", extra={"status": error.status, "code": error.code})
            return error_response(error)
        except Exception as unexpected:
            # Not logger.exception: an exception's message can echo what the client sent.
            logger.error("Request failed", extra=failure(unexpected))
            return error_response(InternalError())

    return handler  # type: ignore[no-any-return] # Powertools' decorators are untyped


def error_response(error: ApiError) -> Response:
    body = error_body(error)
    return json_response(body.status, body.body, body.headers)


def json_response(
    status: int, body: BaseModel | dict[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    text = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body)
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": text,
        "isBase64Encoded": False,
    }


def empty_response(status: int = 204) -> Response:
    return {"statusCode": status, "headers": {}, "body": "", "isBase64Encoded": False}
