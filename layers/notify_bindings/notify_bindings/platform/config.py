"""Settings read once from the environment the template gives every function.

A named tuple checked here rather than a pydantic model: the authorizer validates nothing
else, and without pydantic its cold start is that of botocore and a client (pydantic's import
and first model would add about half as much again). Not a dataclass either: a dataclass
compiles its methods when its module is imported, a cost of every function's cold start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit


class InvalidSettings(ValueError):
    """The environment lacks a setting, or gives one a value it cannot have."""


class Settings(NamedTuple):
    bindings_table: str
    binding_index_table: str
    services_table: str
    accounts_table: str | None
    # The Secrets Manager secret that signs page tokens (the list functions only): its value is
    # read once per execution environment, never put in the environment.
    page_token_secret_arn: str | None
    # Where deleted Services are handed over to have their bindings purged.
    service_purge_queue_url: str | None
    auth_cache_seconds: int
    # Any DynamoDB-compatible endpoint (the local API's embedded server, DynamoDB Local), and
    # an SQS-compatible one; both unset in AWS.
    dynamodb_endpoint_url: str | None
    sqs_endpoint_url: str | None
    # The EventBridge bus change events go to (the change-events function only), and an
    # EventBridge-compatible endpoint (unset in AWS).
    change_event_bus_name: str | None
    events_endpoint_url: str | None
    # The KMS key that seals credentials and auth tokens, and a KMS-compatible endpoint (unset
    # in AWS).
    credentials_key_id: str | None
    kms_endpoint_url: str | None
    # A Secrets Manager-compatible endpoint (unset in AWS).
    secretsmanager_endpoint_url: str | None
    # Public base URL when the API sits behind a custom domain (or is served locally), an
    # http(s) URL; otherwise the API's domain, as API Gateway names it in each request.
    public_base_url: str | None
    # The API's routes ("POST /v1/Services/{ServiceSid}/Bindings, ..."), for telling a wrong
    # method (405) from a wrong path (404) on requests that match none of them.
    api_routes: tuple[str, ...]
    # Where notifications are delivered (the delivering function only): the real hosts by
    # default; the local API points them at its stand-ins. FCM_TOKEN_ENDPOINT is Google's OAuth
    # token URL, used instead of a service account's own `token_uri`.
    apns_endpoint: str = "https://api.push.apple.com"
    apns_sandbox_endpoint: str = "https://api.sandbox.push.apple.com"
    fcm_endpoint: str = "https://fcm.googleapis.com"
    fcm_token_endpoint: str = "https://oauth2.googleapis.com/token"  # noqa: S105  # nosec B105
    twilio_api_endpoint: str = "https://api.twilio.com"
    # Local only: the CA file that APNs' stand-in's certificate is verified with (unset: the
    # public CAs), and whether delivery callbacks may go to http://127.0.0.1.
    apns_ca_file: str | None = None
    allow_local_callbacks: bool = False
    # HTTP/2 connections the delivering function opens to APNs per credential (1 to 32): how
    # many of its sends to APNs may be in flight at once.
    apns_connections: int = 4
    # Notifications: their table, and the queues between the stages of sending (the functions
    # of those stages only).
    notifications_table: str | None = None
    resolve_queue_url: str | None = None
    delivery_queue_url: str | None = None
    # Recipients per delivery batch (the resolving function; at most DELIVERY_BATCH_SIZE, and
    # fewer when the message would outgrow SQS's limit), and sends in flight at once in one
    # delivering function (each on a thread of its own).
    delivery_batch_size: int = 1000
    sends_in_flight: int = 8

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings `environ` (os.environ by default) gives; an empty variable is unset.
        InvalidSettings names every variable that is missing or wrong."""
        variables = _Variables(os.environ if environ is None else environ)
        settings = cls(
            bindings_table=variables.text("BINDINGS_TABLE", min_length=3),
            binding_index_table=variables.text("BINDING_INDEX_TABLE", min_length=3),
            services_table=variables.text("SERVICES_TABLE", min_length=3),
            accounts_table=variables.optional("ACCOUNTS_TABLE"),
            page_token_secret_arn=variables.optional("PAGE_TOKEN_SECRET_ARN"),
            service_purge_queue_url=variables.optional("SERVICE_PURGE_QUEUE_URL"),
            auth_cache_seconds=variables.whole_number("AUTH_CACHE_SECONDS", default=60),
            dynamodb_endpoint_url=variables.optional("DYNAMODB_ENDPOINT_URL"),
            sqs_endpoint_url=variables.optional("SQS_ENDPOINT_URL"),
            change_event_bus_name=variables.optional("CHANGE_EVENT_BUS_NAME"),
            events_endpoint_url=variables.optional("EVENTS_ENDPOINT_URL"),
            credentials_key_id=variables.optional("CREDENTIALS_KEY_ID"),
            kms_endpoint_url=variables.optional("KMS_ENDPOINT_URL"),
            secretsmanager_endpoint_url=variables.optional("SECRETSMANAGER_ENDPOINT_URL"),
            public_base_url=variables.base_url("PUBLIC_BASE_URL"),
            api_routes=variables.comma_separated("API_ROUTES"),
            apns_endpoint=variables.url("APNS_ENDPOINT", cls._field_defaults["apns_endpoint"]),
            apns_sandbox_endpoint=variables.url(
                "APNS_SANDBOX_ENDPOINT", cls._field_defaults["apns_sandbox_endpoint"]
            ),
            fcm_endpoint=variables.url("FCM_ENDPOINT", cls._field_defaults["fcm_endpoint"]),
            fcm_token_endpoint=variables.url(
                "FCM_TOKEN_ENDPOINT", cls._field_defaults["fcm_token_endpoint"]
            ),
            twilio_api_endpoint=variables.url(
                "TWILIO_API_ENDPOINT", cls._field_defaults["twilio_api_endpoint"]
            ),
            apns_ca_file=variables.optional("APNS_CA_FILE"),
            allow_local_callbacks=variables.flag("ALLOW_LOCAL_CALLBACKS"),
            apns_connections=variables.number_between(
                "APNS_CONNECTIONS", cls._field_defaults["apns_connections"], 1, 32
            ),
            notifications_table=variables.optional("NOTIFICATIONS_TABLE"),
            resolve_queue_url=variables.optional("RESOLVE_QUEUE_URL"),
            delivery_queue_url=variables.optional("DELIVERY_QUEUE_URL"),
            delivery_batch_size=variables.number_between(
                "DELIVERY_BATCH_SIZE", cls._field_defaults["delivery_batch_size"], 1, 1000
            ),
            sends_in_flight=variables.number_between(
                "DELIVERY_SENDS_IN_FLIGHT", cls._field_defaults["sends_in_flight"], 1, 64
            ),
        )
        if variables.problems:
            raise InvalidSettings("; ".join(variables.problems))
        return settings


class _Variables:
    """Environment variables read as settings, collecting what is wrong with them."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def optional(self, name: str) -> str | None:
        return self._environ.get(name) or None

    def text(self, name: str, *, min_length: int) -> str:
        value = self._environ.get(name, "")
        if not value:
            self.problems.append(f"{name} is not set")
        elif len(value) < min_length:
            self.problems.append(f"{name} must have at least {min_length} characters")
        return value

    def base_url(self, name: str) -> str | None:
        """An optional http(s) URL of a host (and a path), nothing else: URLs in answers start
        with it, and clients follow them with their credentials."""
        value = self.optional(name)
        if value is not None and not _is_base_url(value):
            self.problems.append(f"{name} must be an http:// or https:// URL of a host")
        return value

    def whole_number(self, name: str, *, default: int) -> int:
        value = self._environ.get(name) or str(default)
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            self.problems.append(f"{name} must be a whole number, 0 or more")
        return number

    def number_between(self, name: str, default: int, low: int, high: int) -> int:
        value = self._environ.get(name) or str(default)
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            self.problems.append(f"{name} must be a whole number from {low} to {high}")
        return number

    def url(self, name: str, default: str) -> str:
        value = self._environ.get(name) or default
        if not value.startswith(("https://", "http://")):
            self.problems.append(f"{name} must be an http(s) URL")
        return value.rstrip("/")

    def flag(self, name: str) -> bool:
        value = (self._environ.get(name) or "false").lower()
        if value not in ("true", "false"):
            self.problems.append(f"{name} must be true or false")
        return value == "true"

    def comma_separated(self, name: str) -> tuple[str, ...]:
        value = self._environ.get(name, "")
        return tuple(part.strip() for part in value.split(",") if part.strip())


_BASE_URL_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/[]%!$&'()*+,;="
)


def _is_base_url(value: str) -> bool:
    """http(s), a host, perhaps a port and a path; no credentials, query or fragment."""
    if not set(value) <= _BASE_URL_CHARACTERS:
        return False
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError when not a number in range
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and port != 0
        and not parts.query
        and not parts.fragment
    )
