"""Generated requests, from Twilio's own OpenAPI document and from ours, against the local API.

Both runs are fixed: a fixed seed, deterministic generation, no example database, a fixed
number of examples per operation. Every case authenticates with HTTP Basic (authentication
itself is tested elsewhere), and its well-formed SIDs name objects that exist (support.py),
so the checks reach past the 404s.

Checks, on every case: never a 5xx; a 2xx conforms to the document's response schema; the
content type is one the document names; schema-valid requests are accepted and schema-
violating ones refused. Against our document, whose errors are documented, also: every status
and every required header is documented. Where the API deliberately differs from a document
(design.md), `DELIBERATE` says so, and only that failure is set aside.

A Credential's create and update take secrets that must be what they claim: a PEM certificate
and the key it was issued for, a Google service account, a Twilio account and its token. No
generator makes those, so both documents get, here, explicit examples of valid forms (their
material generated for the run by tests/providers/material.py), which the examples phase sends;
and the refusal of generated material, which the schema cannot tell from valid, is set aside
for those two operations alone (DELIBERATE) - tests/handlers/test_credentials.py and the e2e
tests prove each kind accepted, and refused with the parameter named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import AcceptedNegativeData, Failure, FailureGroup
from schemathesis.openapi.checks import JsonSchemaError, RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local_api.openapi import OUTPUT as OPENAPI_DOCUMENT
from local_api.openapi import TWILIO_DOCUMENT
from tests.conformance.support import Target
from tests.conformance.tally import TALLY
from tests.providers.material import credential_form, service_account_json

pytestmark = pytest.mark.slow  # a minute or more in all (pyproject.toml)
SEED = 20261126
EXAMPLES_PER_OPERATION = 20
CONFIG: dict[str, Any] = {
    "seed": SEED,
    "generation": {
        "mode": "all",  # positive and negative cases
        "max-examples": EXAMPLES_PER_OPERATION,
        "deterministic": True,
        "database": "none",
        # Every case carries good credentials; refusing bad ones is tested elsewhere.
        "with-security-parameters": False,
    },
    "phases": {
        "stateful": {"enabled": False},
        # Generation must not steer by what the API answers (its SIDs and dates vary by run).
        "fuzzing": {"error-feedback": {"enabled": False}},
    },
}
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]
TWILIO_CHECKS = CHECKS
OUR_CHECKS = [*CHECKS, status_code_conformance, response_headers_conformance]

TWILIOS = "Twilio's document"
OURS = "our document"


@dataclass(frozen=True)
class Deliberate:
    """A difference from a document that design.md decided: a failure of `failure` whose
    text (schemathesis' account of the request, or our error message) matches `pattern`."""

    failure: type[Failure]
    pattern: str
    why: str
    documents: tuple[str, ...] = (TWILIOS, OURS)
    names: frozenset[str] | None = None  # the parameters the pattern's `name` may match
    only_if: Callable[[Any, re.Match[str]], bool] = lambda case, match: True

    def covers(self, failure: Failure, case: Any, document: str, error_message: str) -> bool:
        if not isinstance(failure, self.failure) or document not in self.documents:
            return False
        text = error_message if self.failure is RejectedPositiveData else failure.message
        match = re.search(self.pattern, text)
        if match is None or (self.names is not None and match["name"] not in self.names):
            return False
        return self.only_if(case, match)


def _form(case: Any) -> dict[str, Any]:
    return case.body if isinstance(case.body, dict) else {}


CREDENTIAL_FORMS = ("/v1/Credentials", "/v1/Credentials/{Sid}")  # create, and update


def _credential_form(case: Any, match: re.Match[str]) -> bool:
    return case.method.upper() == "POST" and case.path in CREDENTIAL_FORMS


def with_credential_examples(document: dict[str, Any]) -> dict[str, Any]:
    """The document, its Credential forms given valid examples: a create of each kind its
    form can describe, and an update of the fcm Credential that Target.prepare names."""
    paths = document["paths"]
    examples = {
        "/v1/Credentials": {
            kind: credential_form(kind)
            for kind in ("apn", "apn-token", "fcm", "gcm", "sms")
            if set(credential_form(kind)) <= _form_fields(paths["/v1/Credentials"]["post"])
        },
        "/v1/Credentials/{Sid}": {
            "renamed": {"FriendlyName": "conformance"},
            "new service account": {"Secret": service_account_json()},
        },
    }
    for path, forms in examples.items():
        content = paths[path]["post"]["requestBody"]["content"]
        content["application/x-www-form-urlencoded"]["examples"] = {
            name: {"value": form} for name, form in forms.items()
        }
    return document


def _form_fields(operation: dict[str, Any]) -> set[str]:
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    return set(form.get("properties", {}))


def twilio_document(ours: dict[str, Any]) -> dict[str, Any]:
    """Twilio's document, its Service and Binding paths only (the routes we serve), without
    their servers (notify.twilio.com): requests go to the local API."""
    twilio: dict[str, Any] = json.loads(TWILIO_DOCUMENT.read_text())
    paths = {
        path: {key: value for key, value in item.items() if key != "servers"}
        for path, item in twilio["paths"].items()
        if path in ours["paths"]
    }
    return {**twilio, "paths": paths}


def input_schemas(document: dict[str, Any]) -> dict[tuple[str, str, str], Any]:
    """Every query parameter and form field of a document, by (method, path, name)."""
    found = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "delete"):
                continue  # a path item's description, servers, extensions
            for parameter in operation.get("parameters", []):
                found[method, path, parameter["name"]] = parameter["schema"]
            form = operation.get("requestBody", {}).get("content", {})
            fields = form.get("application/x-www-form-urlencoded", {}).get("schema", {})
            for name, schema in fields.get("properties", {}).items():
                found[method, path, name] = schema
    return found


OUR_DOCUMENT: dict[str, Any] = json.loads(OPENAPI_DOCUMENT.read_text())
TWILIO_SUBSET = with_credential_examples(twilio_document(OUR_DOCUMENT))
# The parameters our document constrains beyond Twilio's: the limits design.md sets.
CONSTRAINED = frozenset(
    name
    for (method, path, name), schema in input_schemas(OUR_DOCUMENT).items()
    if input_schemas(TWILIO_SUBSET).get((method, path, name)) != schema
)
with_credential_examples(OUR_DOCUMENT)  # after CONSTRAINED: the schemas are the same

DELIBERATE = [
    Deliberate(
        AcceptedNegativeData,
        r"parameter `PageSize` in query - .*maximum",
        "paging: a PageSize over 1000 is taken as 1000, not refused (twilio-python sends one)",
        (TWILIOS,),
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Parameter 'PageToken' is invalid",
        "paging: a page token is opaque and signed; only one the API issued is accepted",
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Parameter 'Page' is invalid: a page other than 0 needs its PageToken",
        "paging: a page other than 0 is reached only through next_page_url, with its PageToken "
        "(a number alone would answer the first page labelled otherwise)",
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Parameter '(Identity|Tag|Address)' is invalid: must (not contain [\w ]+ characters "
        r"\(U\+[0-9A-F]{4,6}\)|be at most [0-9]+ bytes)$",
        "identifiers: invisible and look-alike code points, and keys over DynamoDB's byte "
        "limits, are refused; our document says so in words (a JSON Schema pattern cannot name "
        "Unicode's unassigned or default-ignorable code points)",
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Identity already has the maximum of 20 Bindings",
        "the 21st binding of an identity is refused",
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Parameter 'Address' is invalid: must (be an E\.164|not contain whitespace)",
        "address formats: E.164 for sms, E.164 or a Messenger id for facebook-messenger, "
        "no whitespace for push types (Twilio's document types Address as any string)",
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Parameter '(?P<name>\w+)' is invalid",
        "limits: a parameter our document constrains beyond Twilio's (lengths, counts, no "
        "control characters, canonical Unicode, protocol versions, callback URLs)",
        (TWILIOS,),
        CONSTRAINED,
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Parameter '(Data|Apn|Fcm|Gcm|Sms|FacebookMessenger|Alexa|ToBinding)' is invalid",
        "notifications: Data, the channel overrides and each ToBinding must be JSON objects "
        "(Twilio's document types them as any string); twi_ keys and an FCM override's own "
        "recipient are refused",
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Parameter '(Data|Apn|Fcm|Gcm|Sms|FacebookMessenger|Alexa)' must be given at most once",
        "notifications: Twilio's document leaves the JSON parameters untyped; each is one "
        "JSON object",
        (TWILIOS,),
    ),
    Deliberate(
        RejectedPositiveData,
        r"^(One of the parameters 'Identity', 'Tag', 'ToBinding' or 'Segment' is required"
        r"|Parameter 'ToBinding' cannot be combined)",
        "notifications: a notification names its recipients, by Identity/Tag/Segment or by "
        "ToBinding, not both (docs/api.md, decisions)",
    ),
    Deliberate(
        AcceptedNegativeData,
        r"(logEnabled|deliveryCallbackEnabled|sandbox): Incorrect type",
        "booleans are read leniently (true/false, 1/0, yes/no, on/off, any case): not a "
        "design.md decision, kept as it was (a Credential's Sandbox is read as they are)",
    ),
    Deliberate(
        JsonSchemaError,
        r'^"sms" is not one of "gcm", "apn" or "fcm"',
        "Credentials: the sms type (Twilio Messaging, for sms bindings) is ours (api.md)",
        (TWILIOS,),
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Parameter '(?P<name>Certificate|PrivateKey|Secret|ApiKey|ApnKeyId|ApnTeamId|"
        r"ApnTopic)' is (invalid|required)",
        "Credentials: a create or an update takes only material that is what it claims (a "
        "certificate and the key it was issued for, a service account, an account and its "
        "token), which no schema can say; the examples above are valid, and the handler and "
        "e2e tests prove each kind accepted and refused",
        only_if=_credential_form,
    ),
    Deliberate(
        AcceptedNegativeData,
        r"in body - (tag|identity): Array with more items than allowed by maxItems",
        "notifications: repeated Identity or Tag values count once (as in the Bindings list)",
        only_if=lambda case, match: (
            len(set(_form(case).get(match[1].title()) or []))
            <= (20 if match[1] == "identity" else 5)
        ),
    ),
    Deliberate(
        AcceptedNegativeData,
        r"in body - (tag|identity|segment|toBinding): Incorrect type",
        "not a difference: a form cannot tell one Tag from a list of one Tag",
    ),
    Deliberate(
        AcceptedNegativeData,
        r"in body - .* at /properties/(?P<name>\w+)$",
        "Service settings: an empty value clears a setting (clients cannot send a null)",
        (TWILIOS,),
        only_if=lambda case, match: _form(case).get(match["name"]) == "",
    ),
    Deliberate(
        RejectedPositiveData,
        r"^Missing required parameter \w+ in the post body$",
        "not a difference: Twilio's document leaves the body of a create optional, though "
        "the form it describes requires Identity, BindingType and Address",
        (TWILIOS,),
        only_if=lambda case, match: not _form(case),
    ),
]


def set_aside(
    failures: list[Failure], case: Any, document: str, error_message: str
) -> list[Failure]:
    """The failures no deliberate difference explains."""
    left = []
    for failure in failures:
        covering = (r for r in DELIBERATE if r.covers(failure, case, document, error_message))
        rule = next(covering, None)
        if rule is None:
            left.append(failure)
        else:
            TALLY.set_aside[document][rule.why] += 1
    return left


def loaded(document: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(CONFIG))


OUR_SCHEMA = loaded(OUR_DOCUMENT)
TWILIO_SCHEMA = loaded(TWILIO_SUBSET)


def call_and_check(target: Target, case: Any, document: str, checks: list[Any]) -> None:
    target.prepare(case)
    response = case.call(base_url=target.url, session=target.http, auth=target.auth, timeout=30)
    TALLY.record(document, f"{case.method.upper()} {case.path}", response.status_code)
    try:
        case.validate_response(response, checks=checks)
    except FailureGroup as group:
        error_message = _error_message(response)
        left = set_aside(list(group.exceptions), case, document, error_message)
        if left:
            failed = FailureGroup(left)
            failed.add_note(f"{response.status_code} {error_message}")
            raise failed from None


def _error_message(response: Any) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


@TWILIO_SCHEMA.parametrize()  # type: ignore[untyped-decorator]
def test_given_twilios_document_when_fuzzed_then_no_5xx_and_responses_conform(
    case: Any, conformance_target: Target
):
    call_and_check(conformance_target, case, TWILIOS, TWILIO_CHECKS)


@OUR_SCHEMA.parametrize()  # type: ignore[untyped-decorator]
def test_given_our_document_when_fuzzed_then_no_5xx_and_every_response_is_documented(
    case: Any, conformance_target: Target
):
    call_and_check(conformance_target, case, OURS, OUR_CHECKS)


# Twilio's document leaves a notification's JSON parameters untyped and its fields optional:
# its generated creates all carry some value we refuse (a non-object Data, a bad URL), so none
# succeeds. Our document's run creates notifications, and the handler tests cover the rest.
UNREACHED_FROM_TWILIOS = {"POST /v1/Services/{ServiceSid}/Notifications"}


@pytest.mark.parametrize(("document", "schema"), [(TWILIOS, TWILIO_SCHEMA), (OURS, OUR_SCHEMA)])
def test_given_the_runs_above_then_every_operation_was_reached_and_succeeded(document, schema):
    """The budget is spent on the API, not on 404s: every operation answered a 2xx."""
    answered = TALLY.statuses.get(document)
    if not answered:
        pytest.skip("counts the cases of the tests above: run the module")
    for result in schema.get_all_operations():
        operation = result.ok()
        statuses = answered[f"{operation.method.upper()} {operation.path}"]
        if document == TWILIOS and operation.label in UNREACHED_FROM_TWILIOS:
            continue
        assert any(200 <= status < 300 for status in statuses), (operation.label, statuses)
