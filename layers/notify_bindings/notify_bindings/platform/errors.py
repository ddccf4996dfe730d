"""Domain errors and the one map from them to Twilio's error JSON.

Twilio's legacy error body is exactly `{code, message, more_info, status}`. Adding `type`
and `title` would switch twilio-python to its RFC 9457 exception class, so we never do.
"""

from __future__ import annotations

from typing import NamedTuple

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class ApiError(Exception):
    """An error the client sees. Subclasses fix the HTTP status and the Twilio code."""

    status = 500
    code = 20500
    retry_after: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class InvalidParameter(ApiError):
    status = 400
    code = 20001


class IdentityLimitExceeded(InvalidParameter):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Identity already has the maximum of {limit} Bindings in this Service; "
            "delete one before creating another"
        )


class InvalidPageToken(InvalidParameter):
    def __init__(self) -> None:
        super().__init__(
            "Parameter 'PageToken' is invalid: use the next_page_url or previous_page_url "
            "of a page listed with the same filters"
        )


class Unauthenticated(ApiError):
    status = 401
    code = 20003

    def __init__(self) -> None:
        super().__init__("Authenticate")

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="Twilio API"'}


class NotFound(ApiError):
    status = 404
    code = 20404

    def __init__(self, path: str) -> None:
        # Twilio names the resource path without the version prefix.
        super().__init__(f"The requested resource {path.removeprefix('/v1')} was not found")


class MethodNotAllowed(ApiError):
    status = 405
    code = 20004

    def __init__(self, method: str, allowed: list[str]) -> None:
        super().__init__(f"Method not allowed: {method}")
        self.allowed = allowed

    @property
    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class Throttled(ApiError):
    status = 429
    code = 20429
    retry_after = 1

    def __init__(self) -> None:
        super().__init__("Too many requests")


class Unavailable(ApiError):
    status = 503
    code = 20503
    retry_after = 1

    def __init__(self) -> None:
        super().__init__("Service temporarily unavailable, please retry")


class InternalError(ApiError):
    def __init__(self) -> None:
        super().__init__("An internal server error has occurred")


class ErrorBody(NamedTuple):
    status: int
    body: dict[str, object]
    headers: dict[str, str]


def error_body(error: ApiError) -> ErrorBody:
    return ErrorBody(
        status=error.status,
        body={
            "code": error.code,
            "message": error.message,
            "more_info": MORE_INFO.format(code=error.code),
            "status": error.status,
        },
        headers=error.headers,
    )
