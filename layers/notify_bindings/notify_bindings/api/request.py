"""API Gateway HTTP API (payload 2.0) events in: the request a handler reads, and the one small
adapter from Twilio's forms and queries to the pydantic models of `api/requests/`.

Twilio sends form bodies and query strings with repeated keys (`Tag=a&Tag=b`). API Gateway
joins repeated query keys with commas in `queryStringParameters`, which would corrupt values
that contain commas, so everything here is parsed from `rawQueryString` and the raw body.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from functools import cache, cached_property
from typing import Any, TypeVar, get_origin
from urllib.parse import parse_qs

from pydantic import BaseModel, ValidationError

from notify_bindings.platform.errors import (
    InvalidParameter,
    NotFound,
    Throttled,
    Unauthenticated,
    Unavailable,
)
from notify_bindings.platform.sids import is_service_sid

Model = TypeVar("Model", bound=BaseModel)

MAX_BODY_BYTES = 64 * 1024
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class ApiRequest:
    """One request, as API Gateway's event describes it. `public_base_url` (a custom domain's,
    or the local server's) is where its URLs lead; without one, the API's domain."""

    def __init__(self, event: Mapping[str, Any], public_base_url: str | None = None) -> None:
        self.event = event
        self.public_base_url = public_base_url

    @property
    def account_sid(self) -> str:
        """The account the authorizer proved the credentials belong to; 401 without one."""
        authorizer = self.event.get("requestContext", {}).get("authorizer") or {}
        context = authorizer.get("lambda") or {}
        account_sid = context.get("accountSid")
        if isinstance(account_sid, str) and account_sid:
            return account_sid
        # The authorizer could not check the credentials (DynamoDB throttled or down): say so
        # rather than tell a caller with good credentials that they are wrong.
        if context.get("authError") == str(Throttled.code):
            raise Throttled()
        if context.get("authError") == str(Unavailable.code):
            raise Unavailable()
        raise Unauthenticated()

    @property
    def method(self) -> str:
        return str(self.event["requestContext"]["http"]["method"])

    @property
    def path(self) -> str:
        return str(self.event.get("rawPath", ""))

    @cached_property
    def headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in (self.event.get("headers") or {}).items()}

    def path_parameter(self, name: str) -> str:
        return str((self.event.get("pathParameters") or {}).get(name, ""))

    @property
    def service_sid(self) -> str:
        sid = self.path_parameter("ServiceSid")
        if not is_service_sid(sid):
            raise NotFound(self.path)
        return sid

    @cached_property
    def base_url(self) -> str:
        """Where this API is served from, so that URLs in responses lead back to it: the
        deployment's public base URL, else the API's own domain and stage as API Gateway names
        them. Never the client's `Host` or `X-Forwarded-*`: a client that follows
        `next_page_url` sends its credentials wherever that leads."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        context = self.event.get("requestContext", {})
        host = context.get("domainName") or "localhost"
        stage = context.get("stage", "$default")
        prefix = "" if stage == "$default" else f"/{stage}"
        return f"https://{host}{prefix}"

    def query(self, model: type[Model]) -> Model:
        return _validated(model, _parse_pairs(self.event.get("rawQueryString", "")), "query")

    def path_parameters(self, model: type[Model]) -> Model:
        """The path's parameters as `model` reads them: 404 when they name nothing the route's
        resource can be (as for a malformed SID), never 400 - a path is not a parameter."""
        try:
            return model.model_validate(self.event.get("pathParameters") or {})
        except ValidationError:
            raise NotFound(self.path) from None

    def form(self, model: type[Model]) -> Model:
        # A request without a body has no parameters to type; a body must say it is a form.
        untyped = "" if self.event.get("body") else _FORM_CONTENT_TYPE
        content_type = self.headers.get("content-type", untyped)
        if content_type.split(";")[0].strip().lower() != _FORM_CONTENT_TYPE:
            raise InvalidParameter(f"Content-Type must be {_FORM_CONTENT_TYPE}")
        return _validated(model, _parse_pairs(self._body_text()), "post body")

    def _body_text(self) -> str:
        body = self.event.get("body") or ""
        try:
            raw = (
                base64.b64decode(body, validate=True)
                if self.event.get("isBase64Encoded")
                else body.encode()
            )
        except (binascii.Error, ValueError):
            raise InvalidParameter("The request body could not be decoded") from None
        if len(raw) > MAX_BODY_BYTES:
            raise InvalidParameter(f"The request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParameter("The request body is not valid UTF-8") from None


def _parse_pairs(text: str) -> dict[str, list[str]]:
    try:
        return parse_qs(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidParameter("Parameters must be UTF-8 and percent-encoded") from None


def _validated(model: type[Model], pairs: dict[str, list[str]], where: str) -> Model:
    repeatable = _repeatable_aliases(model)
    known = _aliases(model)
    values: dict[str, object] = {}
    for name, given in pairs.items():
        if name not in known:
            continue  # unknown parameters are ignored, as Twilio does, however often given
        if name in repeatable:
            values[name] = given
        elif len(given) > 1:
            raise InvalidParameter(f"Parameter '{name}' must be given at most once")
        else:
            values[name] = given[0]
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise InvalidParameter(_describe(error, where)) from None


@cache
def _aliases(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(field.alias or name for name, field in model.model_fields.items())


@cache
def _repeatable_aliases(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        field.alias or name
        for name, field in model.model_fields.items()
        if get_origin(field.annotation) in (tuple, list)
    )


_PYDANTIC_PREFIX = re.compile(r"^(Value error|Assertion failed), ")


def _describe(error: ValidationError, where: str) -> str:
    """One sentence a client can act on, naming the parameter as Twilio spells it."""
    first = error.errors(include_url=False, include_input=False)[0]
    location = [part for part in first["loc"] if isinstance(part, str)]
    reason = _PYDANTIC_PREFIX.sub("", first["msg"])
    if not location:
        return reason
    name = location[0]
    if first["type"] == "missing":
        return f"Missing required parameter {name} in the {where}"
    return f"Parameter '{name}' is invalid: {reason}"
