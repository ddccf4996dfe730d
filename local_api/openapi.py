"""This API's OpenAPI document, generated: `make openapi` writes it to openapi.json.

Every route of template.yaml (but `$default`) becomes an operation. A route Twilio's own document
(reference/twilio_notify_v1.json) describes keeps Twilio's operation: its parameter names and
schemas, its request body and its success responses, so a client generated from either
document sends the same requests. To those the generator adds what is ours:

- the limits our request models declare (the layer's `api/requests/`: `bindings.py`,
  `services.py`, ...), read from their JSON schemas and validators rather than repeated here;
- the errors we answer, as Twilio's error JSON `{code, message, more_info, status}`;
- HTTP Basic security, and the local API's address as the server.

A route that Twilio's document does not describe needs an entry in `EXTENSION_OPERATIONS`:
generating fails on a route nobody described, so a new route cannot go undocumented.

What is ours and not Twilio's - the Users operations, the `Address` filter of the Bindings
list, the Service's `IdentityBindingLimitPolicy` - carries `x-notify-bindings-extension: true`
(`EXTENSION`) and says so in its description, so that the document still tells Twilio's API
from ours.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import re
import sys
import tomllib
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from local_api.runtime import put_layers_on_path
from local_api.template import PROJECT_ROOT, TEMPLATE_PATH, SamTemplate

TWILIO_DOCUMENT = PROJECT_ROOT / "reference" / "twilio_notify_v1.json"
OUTPUT = PROJECT_ROOT / "openapi.json"
LOCAL_SERVER = "http://127.0.0.1:3000"
OPENAPI_VERSION = "3.0.1"  # Twilio's, so that its schemas (`nullable`) keep their meaning
SECURITY_SCHEME = "accountSid_authToken"  # Twilio's name for HTTP Basic
ERROR_SCHEMA = "twilio.error"

JsonObject = dict[str, Any]
Location = Literal["query", "body"]


@dataclass(frozen=True)
class Input:
    """Where an operation's parameters are validated: a pydantic model of the layer, named
    `module:Class`, read from the query string or the form body."""

    location: Location
    model: str
    empty_clears: bool = False  # an empty value clears a setting (the Service form)


# The model that validates each operation's input, by Twilio's operationId: a module of the
# layer's REQUESTS package, and a class of it.
REQUESTS = "notify_bindings.api.requests"
OPERATION_INPUTS: dict[str, Input] = {
    "CreateService": Input("body", "services:ServiceForm", True),
    "UpdateService": Input("body", "services:ServiceForm", True),
    "ListService": Input("query", "service_lists:ListServicesQuery"),
    "CreateBinding": Input("body", "bindings:CreateBindingForm"),
    "ListBinding": Input("query", "binding_lists:ListBindingsQuery"),
    "ListUser": Input("query", "users:ListUsersQuery"),
    "ListUserBinding": Input("query", "binding_lists:ListUserBindingsQuery"),
    "CreateDeadToken": Input("body", "dead_tokens:ReportDeadTokenForm"),
    "CreateNotification": Input("body", "notifications:CreateNotificationForm"),
    "CreateCredential": Input("body", "credentials:CredentialForm"),
    "UpdateCredential": Input("body", "credentials:CredentialUpdateForm"),
    "ListCredential": Input("query", "credentials:ListCredentialsQuery"),
}

# Marks what is ours, not Twilio's: operations, parameters and response properties.
EXTENSION = "x-notify-bindings-extension"
EXTENSION_NOTE = "An extension of this API: not in Twilio's Notify."

# Operations of routes that Twilio's document does not have, by route key ("GET /v1/Things"):
# each a function returning the OpenAPI operation object. Its responses get the error
# responses like Twilio's operations do.
EXTENSION_OPERATIONS: dict[str, Callable[[], JsonObject]] = {}  # filled in below

# The errors, as platform/errors.py answers them, and the headers that come with them.
ERRORS: dict[str, tuple[str, int, JsonObject]] = {
    "400": ("A parameter is missing or invalid, or the body is not a form", 20001, {}),
    "401": (
        "Missing or wrong credentials",
        20003,
        {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    ),
    "404": ("No such resource in the caller's account (or a malformed SID)", 20404, {}),
    "405": (
        "The path has no operation for this method; `Allow` names those it has",
        20004,
        {"Allow": {"schema": {"type": "string"}, "required": True}},
    ),
    "429": (
        "Too many requests; retry after `Retry-After` seconds",
        20429,
        {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
    ),
    "503": (
        "DynamoDB unavailable after retries; retry after `Retry-After` seconds",
        20503,
        {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
    ),
}

# What the JSON schema of a model leaves out of a validator, as JSON schema.
NO_CONTROL_CHARACTERS = "[^\\u0000-\\u001f\\u007f-\\u009f]"
HTTP_URL = "https?://"
_CONSTRAINTS = ("minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "maxItems")


def generate(template: SamTemplate | None = None, twilio: JsonObject | None = None) -> JsonObject:
    """The document for `template`'s routes (template.yaml by default)."""
    template = template or SamTemplate.load(TEMPLATE_PATH)
    twilio = twilio if twilio is not None else json.loads(TWILIO_DOCUMENT.read_text())
    put_layers_on_path(template)  # the request models are the layer's
    paths: JsonObject = {}
    for route in template.routes:
        if route.is_default:
            continue
        operation = _operation(route.method, route.path, twilio)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    schemas = _referenced_schemas(paths, twilio)
    schemas.update(
        {
            name: copy.deepcopy(schema)
            for name, schema in EXTENSION_SCHEMAS.items()
            if name in set(_references(paths))
        }
    )
    for name, properties in EXTENSION_PROPERTIES.items():
        if name in schemas:
            schemas[name]["properties"].update(copy.deepcopy(properties))
    for name, values in EXTENSION_ENUM_VALUES.items():
        if name in schemas:
            schemas[name]["enum"] = [*schemas[name]["enum"], *values]
            schemas[name]["description"] += f" Ours: {', '.join(values)}. {EXTENSION_NOTE}"
            schemas[name][EXTENSION] = True
    components = {
        "securitySchemes": {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "basic",
                "description": "An Account SID and its auth token, or an API key SID (SK...) "
                "and its secret",
            }
        },
        "schemas": {
            **{name: schemas[name] for name in sorted(schemas)},
            ERROR_SCHEMA: _error_schema(),
        },
        "responses": {status: _error_response(status) for status in ERRORS},
    }
    operations = [operation for item in paths.values() for operation in item.values()]
    used_tags = {tag for operation in operations for tag in operation.get("tags", ())}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "notify-bindings",
            "version": _project_version(),
            "description": (
                "Twilio Notify's Service and Binding API, self-hosted. Operations, parameters "
                "and response schemas are those of Twilio's OpenAPI document for Notify v1 "
                "(twilio/twilio-oai, MIT licence), with this project's limits and errors. "
                f"What is this API's own - the Users resource, the Bindings list's Address "
                f"filter, the Service's identity binding limit policy, dead-token feedback - "
                f"is marked `{EXTENSION}`. "
                "A method a path does not list answers 405 (see components.responses)."
            ),
        },
        "servers": [{"url": LOCAL_SERVER, "description": "the local API (`make run`)"}],
        "security": [{SECURITY_SCHEME: []}],
        "tags": [tag for tag in twilio.get("tags", []) if tag["name"] in used_tags],
        "paths": paths,
        "components": components,
    }


def render(document: JsonObject) -> str:
    return json.dumps(document, indent=2) + "\n"


def _operation(method: str, path: str, twilio: JsonObject) -> JsonObject:
    route_key = f"{method} {path}"
    twilio_operation = twilio.get("paths", {}).get(path, {}).get(method.lower())
    operation: JsonObject
    if twilio_operation is not None:
        operation = copy.deepcopy(twilio_operation)
        for response in operation["responses"].values():
            response.pop("headers", None)  # Twilio's CORS headers; this API sends none
        _add_extension_parameters(operation)
    elif route_key in EXTENSION_OPERATIONS:
        operation = EXTENSION_OPERATIONS[route_key]()
        operation[EXTENSION] = True
        operation["description"] = _sentence(operation.get("description"), EXTENSION_NOTE)
    else:
        raise ValueError(f"{route_key}: a route of the template that no document describes")
    inputs = OPERATION_INPUTS.get(operation.get("operationId", ""))
    if inputs is not None:
        _add_limits(operation, inputs)
    _mark_extension_fields(operation)
    operation["responses"].update(_error_references(operation))
    operation["security"] = [{SECURITY_SCHEME: []}]
    return operation


def _error_references(operation: JsonObject) -> JsonObject:
    """The errors an operation can answer: 400 when it takes input, 404 when its path names
    a resource, and authentication, throttling and unavailability always."""
    parameters = operation.get("parameters", [])
    statuses = ["401", "429", "503"]
    if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
        statuses.append("400")
    if any(p["in"] == "path" for p in parameters):
        statuses.append("404")
    return {status: {"$ref": f"#/components/responses/{status}"} for status in sorted(statuses)}


def _add_limits(operation: JsonObject, inputs: Input) -> None:
    """Merge the limits of the operation's model into Twilio's parameter schemas, and keep
    only the request examples the model accepts."""
    model = _model(inputs.model)
    ours: JsonObject = model.model_json_schema(by_alias=True)["properties"]
    aliases = {field.alias or name: field for name, field in model.model_fields.items()}
    # Each parameter as (what carries its description, its schema).
    parameters: dict[str, tuple[JsonObject, JsonObject]]
    if inputs.location == "body":
        body = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
        parameters = {name: (s, s) for name, s in body["schema"]["properties"].items()}
        if body["schema"].get("required"):  # Twilio's leaves a body of required fields optional
            operation["requestBody"]["required"] = True
        body["examples"] = _accepted_examples(body.get("examples", {}), model)
    else:
        query = [p for p in operation["parameters"] if p["in"] == "query"]
        parameters = {p["name"]: (p, p["schema"]) for p in query}
    for name, (described, schema) in parameters.items():
        if name in JSON_PARAMETERS and "type" not in schema:
            schema["type"] = "string"
            described["description"] = _sentence(described.get("description"), JSON_NOTE)
        if name not in ours:
            raise ValueError(f"{operation['operationId']}: {name} is not in {inputs.model}")
        field = aliases[name]
        validators = _validators(field.annotation, field.metadata)
        notes = _merge(schema, _without_null(ours[name]), validators)
        if inputs.empty_clears:
            either = {"anyOf": [dict(schema), EMPTY_VALUE]}
            schema.clear()
            schema.update(either)
            notes.append(EMPTY_CLEARS)
        for note in notes:
            described["description"] = _sentence(described.get("description"), note)
    if inputs.location == "body":
        body["examples"].update(copy.deepcopy(EXAMPLES.get(operation["operationId"], {})))
        if not body["examples"]:
            del body["examples"]


# Requests of ours that an operation accepts, where Twilio's examples are not accepted.
EXAMPLES: dict[str, JsonObject] = {
    "CreateNotification": {
        "createToIdentity": {"value": {"Identity": ["alice"], "Body": "Hi", "Data": '{"a": 1}'}}
    }
}
# Twilio's document leaves these untyped; they are JSON objects, sent as text.
JSON_PARAMETERS = ("Data", "Apn", "Fcm", "Gcm", "Sms", "FacebookMessenger", "Alexa")

EMPTY_CLEARS = "An empty value clears the setting."
EMPTY_VALUE: JsonObject = {"type": "string", "enum": [""]}
JSON_NOTE = "A JSON object, as text; keys beginning twi_ are refused."
NO_CONTROL_CHARACTERS_NOTE = "No control characters (U+0000-U+001F, U+007F-U+009F)."
PAGE_SIZE_CLAMPED = "Larger values are taken as 1000 rather than refused."
HTTP_URL_NOTE = "An http:// or https:// URL."
CANONICAL_IDENTIFIER = (
    "In Unicode normalization form C, not beginning with a combining character, "
    "without bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069)."
)

ASCII_INTEGER = "Written in ASCII digits: no sign but a minus, no spaces, underscores or decimals."
VISIBLE_TEXT = (
    "No default-ignorable, format, unassigned, noncharacter, private-use or surrogate code "
    "points, and no separators but the plain space (U+0020)."
)
RESERVED_TAGS_NOTE = (
    "Not `all` nor a binding type (`apn`, `gcm`, `sms`, `fcm`, `facebook-messenger`, `alexa`): "
    "those are the implicit tags every binding has."
)
MAX_BYTES = re.compile(r"max_([0-9]+)_bytes")


def _merge(schema: JsonObject, ours: JsonObject, validators: set[str]) -> list[str]:
    """Our constraints on Twilio's schema; what the schema cannot say, as sentences."""
    notes = []
    items = schema.get("items") if schema.get("type") == "array" else None
    for keyword in _CONSTRAINTS:
        if keyword in ours:
            schema[keyword] = ours[keyword]
        if items is not None and keyword in ours.get("items", {}):
            items[keyword] = ours["items"][keyword]
    if "no_control_characters" in validators:
        target = items if items is not None else schema
        if "pattern" in target:
            raise ValueError(f"two patterns for one parameter: {target['pattern']}")
        prefix = HTTP_URL if "_http_url" in validators else ""
        target["pattern"] = f"^{prefix}{NO_CONTROL_CHARACTERS}*$"
        notes.append(NO_CONTROL_CHARACTERS_NOTE)
        if prefix:
            notes.append(HTTP_URL_NOTE)
    if "canonical_identifier" in validators:
        notes.append(CANONICAL_IDENTIFIER)
    if "visible_text" in validators:
        notes.append(VISIBLE_TEXT)
    for name in sorted(validators):
        if limit := MAX_BYTES.fullmatch(name):
            notes.append(f"At most {limit[1]} bytes in UTF-8.")
    if "_no_reserved_tags" in validators:
        reserved = importlib.import_module("notify_bindings.domain.bindings").RESERVED_TAGS
        (items if items is not None else schema)["not"] = {"enum": sorted(reserved)}
        notes.append(RESERVED_TAGS_NOTE)
    if "strict_integer" in validators:
        notes.append(ASCII_INTEGER)
    if "clamp_page_size" in validators:
        schema.pop("maximum", None)
        schema.pop("format", None)  # not int64 either: any larger number is taken as 1000
        notes.append(PAGE_SIZE_CLAMPED)
    return notes


def _accepted_examples(examples: JsonObject, model: Any) -> JsonObject:
    """Twilio's examples that the model validates (some break Twilio's own patterns)."""
    from pydantic import ValidationError

    accepted = {}
    for name, example in examples.items():
        try:
            model.model_validate(example["value"])
        except ValidationError:
            continue
        accepted[name] = example
    return accepted


def _without_null(schema: JsonObject) -> JsonObject:
    """`X | None` as pydantic writes it (anyOf X, null) is X: an absent parameter is None."""
    branches = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return branches[0] if len(branches) == 1 else schema


def _validators(annotation: Any, metadata: list[Any]) -> set[str]:
    """The names of the validator functions on a field, at any depth of its annotation
    (`tuple[Annotated[str, AfterValidator(f)], ...]` has f)."""
    return {name for item in _annotation_parts(annotation, metadata) if (name := _func(item))}


def _annotation_parts(annotation: Any, metadata: list[Any]) -> Iterator[Any]:
    yield from metadata
    for argument in typing.get_args(annotation):
        if isinstance(argument, type):
            continue
        yield from _annotation_parts(argument, list(getattr(argument, "__metadata__", ())))


def _func(item: Any) -> str | None:
    func = getattr(item, "func", None)
    return getattr(func, "__name__", None) if callable(func) else None


def _sentence(description: str | None, sentence: str) -> str:
    return f"{description} {sentence}" if description else sentence


def _error_schema() -> JsonObject:
    return {
        "type": "object",
        "description": "Twilio's error JSON, exactly these four fields",
        "properties": {
            "code": {"type": "integer", "description": "Twilio's error code"},
            "message": {"type": "string"},
            "more_info": {"type": "string", "format": "uri"},
            "status": {"type": "integer", "description": "the HTTP status"},
        },
        "required": ["code", "message", "more_info", "status"],
        "additionalProperties": False,
    }


def _error_response(status: str) -> JsonObject:
    description, code, headers = ERRORS[status]
    response: JsonObject = {
        "description": f"{description} (code {code})",
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}
        },
    }
    if headers:
        response["headers"] = headers
    return response


def _referenced_schemas(paths: JsonObject, twilio: JsonObject) -> JsonObject:
    """Twilio's component schemas the operations refer to, at any depth."""
    available: JsonObject = twilio.get("components", {}).get("schemas", {})
    found: JsonObject = {}
    pending = list(_references(paths))
    while pending:
        name = pending.pop()
        if name in found or name not in available:
            continue
        found[name] = copy.deepcopy(available[name])
        pending += _references(found[name])
    return {name: found[name] for name in sorted(found)}


def _references(value: Any) -> Iterator[str]:
    prefix = "#/components/schemas/"
    if isinstance(value, dict):
        reference = value.get("$ref")
        if isinstance(reference, str) and reference.startswith(prefix):
            yield reference.removeprefix(prefix)
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _model(name: str) -> Any:
    module, attribute = name.split(":")
    return getattr(importlib.import_module(f"{REQUESTS}.{module}"), attribute)


def _project_version() -> str:
    project: Mapping[str, Any] = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    return str(project["project"]["version"])


# -- what is ours ---------------------------------------------------------------------------

USER_SCHEMA = "notify-bindings.user"
_SERVICE_SID_PARAMETER: JsonObject = {
    "name": "ServiceSid",
    "in": "path",
    "description": "The SID of the Service the User's bindings are in.",
    "schema": {
        "type": "string",
        "minLength": 34,
        "maxLength": 34,
        "pattern": "^IS[0-9a-fA-F]{32}$",
    },
    "required": True,
}
_IDENTITY_PARAMETER: JsonObject = {
    "name": "Identity",
    "in": "path",
    "description": (
        "The identity, percent-encoded (as in a Binding's `links.user`). An identity no "
        "binding may have (see the Binding's `Identity`) is a 404, like a malformed SID."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 256},
    "required": True,
}
_PAGING_PARAMETERS: list[JsonObject] = [
    {
        "name": "PageSize",
        "in": "query",
        "description": "How many resources to return in each list page. The default is 50.",
        "schema": {"type": "integer", "minimum": 1},
    },
    {
        "name": "Page",
        "in": "query",
        "description": "The page index. This value is simply for client state.",
        "schema": {"type": "integer", "minimum": 0},
    },
    {
        "name": "PageToken",
        "in": "query",
        "description": "The page token. This is provided by the API.",
        "schema": {"type": "string"},
    },
]
_PAGE_META: JsonObject = {
    "type": "object",
    "properties": {
        "first_page_url": {"type": "string", "format": "uri"},
        "key": {"type": "string"},
        "next_page_url": {"type": "string", "format": "uri", "nullable": True},
        "page": {"type": "integer"},
        "page_size": {"type": "integer"},
        "previous_page_url": {"type": "string", "format": "uri", "nullable": True},
        "url": {"type": "string", "format": "uri"},
    },
}

# Component schemas of our own, added when an operation refers to them.
EXTENSION_SCHEMAS: dict[str, JsonObject] = {
    USER_SCHEMA: {
        "type": "object",
        "description": (
            "An identity of a Service and its bindings, in the shape of Notify's historical "
            "User resource (which Twilio removed), with `binding_count`. " + EXTENSION_NOTE
        ),
        EXTENSION: True,
        "properties": {
            "sid": {
                "type": "string",
                "pattern": "^US[0-9a-f]{32}$",
                "description": "Derived from the Service and the identity: always the same.",
            },
            "account_sid": {"type": "string", "pattern": "^AC[0-9a-fA-F]{32}$"},
            "service_sid": {"type": "string", "pattern": "^IS[0-9a-fA-F]{32}$"},
            "identity": {"type": "string"},
            "date_created": {
                "type": "string",
                "format": "date-time",
                "description": "When the identity's oldest binding was created.",
            },
            "date_updated": {
                "type": "string",
                "format": "date-time",
                "description": "When the identity's newest binding was created.",
            },
            "segments": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Always empty: Segments are not served.",
            },
            "binding_count": {
                "type": "integer",
                "minimum": 1,
                "maximum": 20,
                "description": "How many bindings the identity has.",
            },
            "url": {"type": "string", "format": "uri"},
            "links": {
                "type": "object",
                "properties": {
                    "bindings": {"type": "string", "format": "uri"},
                    "segment_memberships": {
                        "type": "string",
                        "format": "uri",
                        "description": "Not served (404).",
                    },
                },
            },
        },
        "required": [
            "sid",
            "account_sid",
            "service_sid",
            "identity",
            "date_created",
            "date_updated",
            "segments",
            "binding_count",
            "url",
            "links",
        ],
    }
}

# service_models.MAX_BINDING_TTL_DAYS (the layer is imported later, to read the form models).
MAX_BINDING_TTL_DAYS = 3650

# Properties of ours in Twilio's component schemas, by schema.
EXTENSION_PROPERTIES: dict[str, JsonObject] = {
    "notify.v1.service": {
        "identity_binding_limit_policy": {
            "type": "string",
            "enum": ["reject", "evict_oldest"],
            "description": (
                "What the 21st binding of an identity does: `reject` (refused, 400) or "
                "`evict_oldest` (it replaces the identity's least recently created binding). "
                + EXTENSION_NOTE
            ),
            EXTENSION: True,
        },
        "binding_ttl_days": {
            "type": "integer",
            "nullable": True,
            "minimum": 1,
            "maximum": MAX_BINDING_TTL_DAYS,
            "description": (
                "Days a binding lives after its last create before DynamoDB's TTL deletes it; "
                "null: bindings never expire. " + EXTENSION_NOTE
            ),
            EXTENSION: True,
        },
        "sms_credential_sid": {
            "type": "string",
            "nullable": True,
            "pattern": "^CR[0-9a-fA-F]{32}$",
            "description": "The sms Credential (Twilio Messaging) of the Service. "
            + EXTENSION_NOTE,
            EXTENSION: True,
        },
    }
}

_APN_TOKEN_PARAMETERS = [
    {
        "name": "ApnKeyId",
        "in": "body",
        "description": "APNs token auth: the 10-character Key ID of the .p8 key in PrivateKey.",
        "schema": {"type": "string"},
    },
    {
        "name": "ApnTeamId",
        "in": "body",
        "description": "APNs token auth: the 10-character Apple Developer Team ID.",
        "schema": {"type": "string"},
    },
    {
        "name": "ApnTopic",
        "in": "body",
        "description": "APNs token auth: the app's bundle ID, sent as apns-topic.",
        "schema": {"type": "string"},
    },
]

# Values of ours in Twilio's enumerations, by schema: the sms Credential (Twilio Messaging).
EXTENSION_ENUM_VALUES: dict[str, list[str]] = {"credential_enum_push_service": ["sms"]}

# Parameters of ours in Twilio's operations, by operationId: query parameters, or form fields.
EXTENSION_PARAMETERS: dict[str, list[JsonObject]] = {
    "ListBinding": [
        {
            "name": "Address",
            "in": "query",
            "description": (
                "Only the binding at this address, if it matches the other filters: the page "
                "holds it, or is empty. One read, whatever the Service holds."
            ),
            "schema": {"type": "string"},
        }
    ],
    **{
        operation: [
            {
                "name": "IdentityBindingLimitPolicy",
                "in": "body",
                "description": (
                    "What the 21st binding of an identity does: `reject` (the default, as "
                    "Twilio: refused with 400) or `evict_oldest` (it replaces the identity's "
                    "least recently created binding, in the same write)."
                ),
                "schema": {"type": "string", "enum": ["reject", "evict_oldest"]},
            },
            {
                "name": "BindingTtlDays",
                "in": "body",
                "description": (
                    "A binding not created again within this many days expires (DynamoDB's "
                    "TTL deletes it, and its removal is published as a change event); empty: "
                    "bindings never expire. It applies to bindings from their next create."
                ),
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BINDING_TTL_DAYS},
            },
        ]
        for operation in ("CreateService", "UpdateService")
    },
    "CreateCredential": _APN_TOKEN_PARAMETERS,
    "UpdateCredential": _APN_TOKEN_PARAMETERS,
}
for _operation_id in ("CreateService", "UpdateService"):
    EXTENSION_PARAMETERS[_operation_id].append(
        {
            "name": "SmsCredentialSid",
            "in": "body",
            "description": (
                "The sms Credential (Twilio Messaging) that delivers the Service's sms "
                "bindings; one of the caller's account."
            ),
            "schema": {"type": "string", "pattern": "^CR[0-9a-fA-F]{32}$"},
        }
    )


def _add_extension_parameters(operation: JsonObject) -> None:
    for parameter in EXTENSION_PARAMETERS.get(operation["operationId"], []):
        description = _sentence(parameter["description"], EXTENSION_NOTE)
        if parameter["in"] == "body":
            form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
            form["schema"]["properties"][parameter["name"]] = {
                **copy.deepcopy(parameter["schema"]),
                "description": description,
                EXTENSION: True,
            }
        else:
            operation["parameters"].append(
                {**copy.deepcopy(parameter), "description": description, EXTENSION: True}
            )


def _mark_extension_fields(operation: JsonObject) -> None:
    """The marker on each form field of ours, whatever `_add_limits` made of its schema."""
    content = operation.get("requestBody", {}).get("content", {})
    fields = content.get("application/x-www-form-urlencoded", {}).get("schema", {})
    for parameter in EXTENSION_PARAMETERS.get(operation.get("operationId", ""), []):
        if parameter["in"] == "body":
            fields["properties"][parameter["name"]][EXTENSION] = True


def _twilio_list_response(path: str) -> JsonObject:
    """The 200 response of a list in Twilio's document, without its examples and headers."""
    twilio = json.loads(TWILIO_DOCUMENT.read_text())
    response: JsonObject = copy.deepcopy(twilio["paths"][path]["get"]["responses"]["200"])
    response.pop("headers", None)
    response["content"]["application/json"].pop("examples", None)
    return response


def _fetch_user() -> JsonObject:
    return {
        "operationId": "FetchUser",
        "summary": "An identity of the Service, while it has bindings",
        "tags": ["NotifyV1User"],
        "parameters": [copy.deepcopy(_SERVICE_SID_PARAMETER), copy.deepcopy(_IDENTITY_PARAMETER)],
        "responses": {
            "200": {
                "description": "The User",
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{USER_SCHEMA}"}}
                },
            }
        },
    }


def _list_users() -> JsonObject:
    return {
        "operationId": "ListUser",
        "summary": "The identities of the Service that have bindings, by identity",
        "description": (
            "A page skips identities whose bindings were all deleted, and reads at most 100 of "
            "them beyond what it returns: past that it ends short, with a next_page_url."
        ),
        "tags": ["NotifyV1User"],
        "parameters": [copy.deepcopy(_SERVICE_SID_PARAMETER), *copy.deepcopy(_PAGING_PARAMETERS)],
        "responses": {
            "200": {
                "description": "A page of Users",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "title": "ListUserResponse",
                            "properties": {
                                "users": {
                                    "type": "array",
                                    "items": {"$ref": f"#/components/schemas/{USER_SCHEMA}"},
                                },
                                "meta": copy.deepcopy(_PAGE_META),
                            },
                        }
                    }
                },
            }
        },
    }


def _list_user_bindings() -> JsonObject:
    twilio = json.loads(TWILIO_DOCUMENT.read_text())
    listing = twilio["paths"]["/v1/Services/{ServiceSid}/Bindings"]["get"]["parameters"]
    filters = [
        {key: value for key, value in parameter.items() if key != "examples"}
        for parameter in listing
        if parameter["in"] == "query" and parameter["name"] != "Identity"
    ]
    address = copy.deepcopy(EXTENSION_PARAMETERS["ListBinding"][0])
    return {
        "operationId": "ListUserBinding",
        "summary": "A page of one identity's bindings",
        "description": (
            "The Bindings list of the identity, with the same filters and paging but "
            "`Identity`; a 404 when the identity has no bindings."
        ),
        "tags": ["NotifyV1UserBinding"],
        "parameters": [
            copy.deepcopy(_SERVICE_SID_PARAMETER),
            copy.deepcopy(_IDENTITY_PARAMETER),
            *filters,
            address,
        ],
        "responses": {"200": _twilio_list_response("/v1/Services/{ServiceSid}/Bindings")},
    }


def _delete_user() -> JsonObject:
    return {
        "operationId": "DeleteUser",
        "summary": "Erase an identity: every binding of it",
        "description": (
            "Every binding of the identity is deleted, at once as far as any read can tell; a "
            "second call is a 404."
        ),
        "tags": ["NotifyV1User"],
        "parameters": [copy.deepcopy(_SERVICE_SID_PARAMETER), copy.deepcopy(_IDENTITY_PARAMETER)],
        "responses": {"204": {"description": "The identity's bindings were deleted."}},
    }


DEAD_REPORT_SCHEMA = "notify-bindings.dead_token_report"
_DEAD_TOKEN_REASONS = ["unregistered", "invalid"]


def _report_dead_token() -> JsonObject:
    return {
        "operationId": "CreateDeadToken",
        "summary": "Report an address a push service rejected: the binding holding it goes",
        "description": (
            "The binding at `Address` is deleted, as Twilio deleted a binding whose token APNs "
            "reported unregistered: only while it holds that address, and only if it is "
            "`BindingSid` when that is given. Its removal's change event carries `Reason`. An "
            "address no binding holds (reported again, say) removes nothing: 200, `removed` "
            "false. The answer never holds the address. In bulk: the stack's DeadTokenQueue."
        ),
        "tags": ["NotifyV1DeadToken"],
        "parameters": [
            {
                **copy.deepcopy(_SERVICE_SID_PARAMETER),
                "description": "The SID of the Service the binding is in.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "title": "CreateDeadTokenRequest",
                        "properties": {
                            "Address": {
                                "type": "string",
                                "description": (
                                    "The address the push service rejected: a device token, "
                                    "a registration token."
                                ),
                            },
                            "BindingSid": {
                                "type": "string",
                                "description": (
                                    "Only this binding (the one the notification was sent "
                                    "to), not one registered at the address since."
                                ),
                            },
                            "Reason": {
                                "type": "string",
                                "enum": _DEAD_TOKEN_REASONS,
                                "description": (
                                    "How the push service rejected it: `unregistered` (the "
                                    "default: uninstalled, expired, rotated) or `invalid`."
                                ),
                            },
                        },
                        "required": ["Address"],
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "What the report removed",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{DEAD_REPORT_SCHEMA}"}
                    }
                },
            }
        },
    }


EXTENSION_SCHEMAS[DEAD_REPORT_SCHEMA] = {
    "type": "object",
    "description": "What a dead-token report removed; never the address. " + EXTENSION_NOTE,
    EXTENSION: True,
    "properties": {
        "account_sid": {"type": "string", "pattern": "^AC[0-9a-fA-F]{32}$"},
        "service_sid": {"type": "string", "pattern": "^IS[0-9a-fA-F]{32}$"},
        "binding_sid": {
            "type": "string",
            "pattern": "^BS[0-9a-fA-F]{32}$",
            "nullable": True,
            "description": "The binding removed; null when none was.",
        },
        "removed": {"type": "boolean", "description": "Whether a binding was removed."},
        "reason": {"type": "string", "enum": _DEAD_TOKEN_REASONS},
    },
    "required": ["account_sid", "service_sid", "binding_sid", "removed", "reason"],
}

NOTIFICATION_SCHEMA = "notify.v1.service.notification"
FETCHED_NOTIFICATION_SCHEMA = "notify.v1.service.notification.fetched"


def _fetch_notification() -> JsonObject:
    sid_parameter = {
        "name": "Sid",
        "in": "path",
        "required": True,
        "description": "The Notification's SID",
        "schema": {"type": "string", "pattern": "^NT[0-9a-fA-F]{32}$"},
    }
    return {
        "operationId": "FetchNotification",
        "summary": "A notification, with what became of its deliveries",
        "description": (
            "Twilio's Notification JSON and `deliveries`: counts that are exact once `pending` "
            "is 0. `pending` is null while the recipients are still being resolved. "
            "Notifications are kept for 30 days."
        ),
        "tags": ["NotifyV1Notification"],
        "parameters": [copy.deepcopy(_SERVICE_SID_PARAMETER), sid_parameter],
        "responses": {
            "200": {
                "description": "The Notification",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{FETCHED_NOTIFICATION_SCHEMA}"}
                    }
                },
            }
        },
    }


def _count(description: str, nullable: bool = False) -> JsonObject:
    schema: JsonObject = {"type": "integer", "minimum": 0, "description": description}
    if nullable:
        schema["nullable"] = True
    return schema


EXTENSION_SCHEMAS[FETCHED_NOTIFICATION_SCHEMA] = {
    "description": "Twilio's Notification and its deliveries. " + EXTENSION_NOTE,
    EXTENSION: True,
    "allOf": [
        {"$ref": f"#/components/schemas/{NOTIFICATION_SCHEMA}"},
        {
            "type": "object",
            "properties": {
                "deliveries": {
                    "type": "object",
                    "properties": {
                        "total": _count("Recipients resolved so far"),
                        "sent": _count("Deliveries a provider accepted"),
                        "failed": _count("Deliveries that failed"),
                        "pending": _count("Not yet sent nor failed; null until resolved", True),
                        "dead_bindings_removed": _count("Bindings removed for dead addresses"),
                    },
                    "required": ["total", "sent", "failed", "pending", "dead_bindings_removed"],
                }
            },
            "required": ["deliveries"],
        },
    ],
}

EXTENSION_OPERATIONS.update(
    {
        "GET /v1/Services/{ServiceSid}/Notifications/{Sid}": _fetch_notification,
        "GET /v1/Services/{ServiceSid}/Users": _list_users,
        "GET /v1/Services/{ServiceSid}/Users/{Identity}": _fetch_user,
        "GET /v1/Services/{ServiceSid}/Users/{Identity}/Bindings": _list_user_bindings,
        "DELETE /v1/Services/{ServiceSid}/Users/{Identity}": _delete_user,
        "POST /v1/Services/{ServiceSid}/DeadTokens": _report_dead_token,
    }
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_api.openapi",
        description="Write this API's OpenAPI document (openapi.json) from template.yaml, "
        "Twilio's document and the layer's request models.",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="only say whether the file is up to date"
    )
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output.name} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
