"""Parameter values every operation must refuse by name: control characters in any string
parameter, values just over each limit, floods of repeated parameters, Unicode that would make
two identifiers look alike, and numbers that are out of range or not numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from notify_bindings.api.requests.binding_lists import ListBindingsQuery
from notify_bindings.api.requests.bindings import CreateBindingForm
from notify_bindings.api.requests.service_lists import ListServicesQuery
from notify_bindings.api.requests.services import ServiceForm
from tests.hostile.support import Api, assert_twilio_error

CONTROL_CHARACTERS = ["\x00", "\x7f"]  # NUL, DEL; the rest of C0 and C1 below, on Identity
CREDENTIAL = "CR" + "0123456789abcdef" * 2


@dataclass(frozen=True)
class Operation:
    """An operation, a request it accepts (`base`), and how to send one parameter changed."""

    name: str
    method: str
    path: str
    model: type[BaseModel]
    base: dict[str, str]

    def send(self, api: Api, service: str, changes: dict[str, Any]) -> Any:
        values = {**self.base, **changes}
        where = "data" if self.method == "POST" else "params"
        return api.request(self.method, self.path.format(service=service), **{where: values})


CREATE_BINDING = Operation(
    "create binding",
    "POST",
    "/v1/Services/{service}/Bindings",
    CreateBindingForm,
    {"Identity": "mallory", "BindingType": "apn", "Address": "mallory-token"},
)
CREATE_SERVICE = Operation("create service", "POST", "/v1/Services", ServiceForm, {})
UPDATE_SERVICE = Operation("update service", "POST", "/v1/Services/{service}", ServiceForm, {})
LIST_BINDINGS = Operation(
    "list bindings", "GET", "/v1/Services/{service}/Bindings", ListBindingsQuery, {}
)
LIST_SERVICES = Operation("list services", "GET", "/v1/Services", ListServicesQuery, {})

# Every string parameter of every operation, with a value it accepts; `{c}` marks where a
# hostile character goes.
STRING_PARAMETERS: list[tuple[Operation, str, str]] = [
    (CREATE_BINDING, "Identity", "mal{c}lory"),
    (CREATE_BINDING, "Address", "mallory-{c}token"),
    (CREATE_BINDING, "Tag", "ev{c}il"),
    (CREATE_BINDING, "NotificationProtocolVersion", "3{c}"),
    (CREATE_BINDING, "CredentialSid", CREDENTIAL[:20] + "{c}" + CREDENTIAL[20:]),
    (CREATE_BINDING, "Endpoint", "legacy{c}endpoint"),
    (CREATE_BINDING, "BindingType", "ap{c}n"),
    *[
        (operation, name, value)
        for operation in (CREATE_SERVICE, UPDATE_SERVICE)
        for name, value in {
            "FriendlyName": "mal{c}lory",
            "ApnCredentialSid": CREDENTIAL + "{c}",
            "GcmCredentialSid": "{c}" + CREDENTIAL,
            "FcmCredentialSid": CREDENTIAL[:2] + "{c}" + CREDENTIAL[2:],
            "MessagingServiceSid": "MG" + "{c}" + "a" * 32,
            "FacebookMessengerPageId": "12{c}34",
            "DefaultApnNotificationProtocolVersion": "{c}3",
            "DefaultGcmNotificationProtocolVersion": "3{c}",
            "DefaultFcmNotificationProtocolVersion": "3.{c}1",
            "DefaultAlexaNotificationProtocolVersion": "3{c}",
            "LogEnabled": "tr{c}ue",
            "AlexaSkillId": "amzn1.ask.skill.{c}1",
            "DeliveryCallbackUrl": "https://example.com/{c}callback",
            "DeliveryCallbackEnabled": "{c}false",
        }.items()
    ],
    (LIST_BINDINGS, "Identity", "al{c}ice"),
    (LIST_BINDINGS, "Tag", "v{c}ip"),
    (LIST_BINDINGS, "Address", "tok{c}en"),
    (LIST_BINDINGS, "StartDate", "2026-01-0{c}1"),
    (LIST_BINDINGS, "EndDate", "2026-01-01{c}"),
    (LIST_BINDINGS, "PageSize", "1{c}0"),
    (LIST_BINDINGS, "Page", "{c}0"),
    (LIST_BINDINGS, "PageToken", "opaque{c}token"),
    (LIST_SERVICES, "FriendlyName", "hos{c}tile"),
    (LIST_SERVICES, "PageSize", "10{c}"),
    (LIST_SERVICES, "Page", "0{c}"),
    (LIST_SERVICES, "PageToken", "{c}opaque"),
]


def _id(operation: Operation, name: str, *rest: object) -> str:
    return f"{operation.name}-{name}"


def _ids(value: object) -> str | None:
    """Test ids: an operation by name, a short value as itself, the rest numbered by pytest."""
    if isinstance(value, Operation):
        return value.name
    return str(value) if isinstance(value, str | int) and len(str(value)) <= 24 else None


@pytest.mark.parametrize(
    ("operation", "name", "value"),
    [pytest.param(*case, id=_id(*case)) for case in STRING_PARAMETERS],
)
def test_given_the_accepted_values_then_the_models_accept_them(operation, name, value):
    """The values below are valid but for the character put in them: that is what's refused."""
    operation.model.model_validate({**operation.base, name: value.format(c="")})


@pytest.mark.parametrize(
    ("operation", "name", "value"),
    [pytest.param(*case, id=_id(*case)) for case in STRING_PARAMETERS],
)
def test_given_a_control_character_in_a_string_parameter_then_400_naming_it(
    hostile_api: Api, hostile_service: str, subtests, operation, name, value
):
    for character in CONTROL_CHARACTERS:
        with subtests.test(character=character):
            reply = operation.send(hostile_api, hostile_service, {name: value.format(c=character)})

            assert f"'{name}'" in assert_twilio_error(reply, 400)["message"]


@pytest.mark.parametrize("operation", [CREATE_BINDING, LIST_BINDINGS], ids=_ids)
def test_given_any_c0_or_c1_control_character_in_an_identity_then_400(
    hostile_api: Api, hostile_service: str, subtests, operation
):
    for character in ["\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x80", "\x85", "\x9f"]:
        with subtests.test(character=character):
            reply = operation.send(hostile_api, hostile_service, {"Identity": f"al{character}ice"})

            message = assert_twilio_error(reply, 400)["message"]
            assert message == "Parameter 'Identity' is invalid: must not contain control characters"


@pytest.mark.parametrize(
    ("operation", "name", "value", "limit"),
    [
        (CREATE_BINDING, "Identity", "i" * 257, "at most 256 characters"),
        (CREATE_BINDING, "Tag", "t" * 65, "at most 64 characters"),
        (CREATE_BINDING, "Address", "a" * 513, "at most 512 characters"),
        (CREATE_BINDING, "Address", "中" * 342, "at most 1024 bytes"),
        (CREATE_BINDING, "Address", "😀" * 257, "at most 1024 bytes"),
        (CREATE_BINDING, "NotificationProtocolVersion", "3" * 17, "should match pattern"),
        (CREATE_SERVICE, "FriendlyName", "f" * 65, "at most 64 characters"),
        (UPDATE_SERVICE, "FriendlyName", "f" * 65, "at most 64 characters"),
        (UPDATE_SERVICE, "FacebookMessengerPageId", "1" * 257, "at most 256 characters"),
        (UPDATE_SERVICE, "AlexaSkillId", "s" * 257, "at most 256 characters"),
        (
            UPDATE_SERVICE,
            "DeliveryCallbackUrl",
            "https://example.com/" + "c" * 2029,
            "at most 2048 characters",
        ),
        (LIST_BINDINGS, "Identity", "i" * 257, "at most 256 characters"),
        (LIST_BINDINGS, "Tag", "t" * 65, "at most 64 characters"),
        (LIST_BINDINGS, "Address", "中" * 342, "at most 1024 bytes"),
        (LIST_SERVICES, "FriendlyName", "f" * 65, "at most 64 characters"),
        (LIST_BINDINGS, "PageToken", "p" * 1025, "at most 1024 characters"),
        (LIST_BINDINGS, "PageToken", "p" * 10 * 1024, "at most 1024 characters"),
        (LIST_SERVICES, "PageToken", "p" * 10 * 1024, "at most 1024 characters"),
    ],
    ids=_ids,
)
def test_given_a_value_just_over_its_limit_then_400_naming_parameter_and_limit(
    hostile_api: Api, hostile_service: str, operation, name, value, limit
):
    reply = operation.send(hostile_api, hostile_service, {name: value})

    message = assert_twilio_error(reply, 400)["message"]
    assert message.startswith(f"Parameter '{name}' is invalid")
    assert limit in message


@pytest.mark.parametrize(
    ("operation", "name", "count", "limit"),
    [
        (CREATE_BINDING, "Tag", 21, 20),
        (CREATE_BINDING, "Tag", 5000, 20),
        (LIST_BINDINGS, "Tag", 6, 5),
        (LIST_BINDINGS, "Tag", 5000, 5),
        (LIST_BINDINGS, "Identity", 101, 100),
        (LIST_BINDINGS, "Identity", 3000, 100),
    ],
    ids=_ids,
)
def test_given_a_flood_of_a_repeated_parameter_then_400_naming_the_limit(
    hostile_api: Api, hostile_service: str, operation, name, count, limit
):
    reply = operation.send(hostile_api, hostile_service, {name: [f"v{i}" for i in range(count)]})

    message = assert_twilio_error(reply, 400)["message"]
    assert message.startswith(f"Parameter '{name}' is invalid")
    assert f"at most {limit} items" in message


# Text that displays like other text: a decomposed é, an accent with nothing to sit on, marks
# that reverse or isolate what follows.
LOOKALIKES = {
    "decomposed": "cafe\u0301",
    "leading combining mark": "\u0301cafe",
    "right-to-left override": "ali\u202ecod.exe",
    "right-to-left mark": "alice\u200f",
    "isolate": "al\u2066ic\u2069e",
    "arabic letter mark": "\u061calice",
    "zero width space": "alice\u200b",
    "zero width joiner": "ali\u200dce",
    "byte order mark": "\ufeffalice",
    "soft hyphen": "ali\u00adce",
    "invisible function application": "alice\u2061",
    "hangul filler": "\u3164",
    "tag characters": "alice\U000e0061\U000e007f",
    "line separator": "alice\u2028",
    "no-break space": "alice\u00a0smith",
    "noncharacter": "alice\uffff",
    "unassigned": "alice\u0378",
    "private use": "alice\ue000",
}


@pytest.mark.parametrize(
    ("operation", "name"),
    [
        (CREATE_BINDING, "Identity"),
        (CREATE_BINDING, "Tag"),
        (CREATE_BINDING, "Address"),
        (LIST_BINDINGS, "Identity"),
        (LIST_BINDINGS, "Tag"),
    ],
    ids=_ids,
)
def test_given_an_identifier_that_looks_like_another_then_400_naming_it(
    hostile_api: Api, hostile_service: str, subtests, operation, name
):
    for kind, text in LOOKALIKES.items():
        with subtests.test(kind):
            reply = operation.send(hostile_api, hostile_service, {name: text})

            message = assert_twilio_error(reply, 400)["message"]
            assert message.startswith(f"Parameter '{name}' is invalid")


@pytest.mark.parametrize("text", ["café", "東京", "नमस्ते", "🐧", "שלום", "alice smith"])
def test_given_canonical_unicode_identifiers_then_the_model_accepts_them(text):
    """The refusals above are about how text is encoded, not about which script it is in."""
    CreateBindingForm.model_validate({**CREATE_BINDING.base, "Identity": text, "Tag": [text]})


NUMBERS: list[tuple[str, str, str]] = [
    ("PageSize", "0", "greater than or equal to 1"),
    ("PageSize", "-1", "greater than or equal to 1"),
    ("PageSize", "1e9", "valid integer"),
    ("PageSize", "abc", "valid integer"),
    ("PageSize", "", "valid integer"),
    ("PageSize", "2.5", "valid integer"),
    ("PageSize", "0x10", "valid integer"),
    ("PageSize", "9" * 5000, "integer"),
    ("Page", "-1", "greater than or equal to 0"),
    ("Page", "abc", "valid integer"),
    ("Page", "1e3", "valid integer"),
    ("Page", "10000001", "less than or equal to 10000000"),
    ("Page", "3", "needs its PageToken"),
    *[
        (name, text, "valid integer")
        for name in ("PageSize", "Page")
        for text in ("5_0", "+5", " 5", "5 ", "1.0", "\u0665", "\uff15")
    ],
]


@pytest.mark.parametrize("operation", [LIST_BINDINGS, LIST_SERVICES], ids=_ids)
def test_given_a_number_out_of_range_or_not_a_number_then_400_naming_it(
    hostile_api: Api, hostile_service: str, subtests, operation
):
    for name, value, reason in NUMBERS:
        with subtests.test(f"{name}={value[:12]}"):
            reply = operation.send(hostile_api, hostile_service, {name: value})

            message = assert_twilio_error(reply, 400)["message"]
            assert message.startswith(f"Parameter '{name}' is invalid")
            assert reason in message


@pytest.mark.parametrize("tag", ["all", "sms", "apn", "gcm", "fcm", "facebook-messenger", "alexa"])
def test_given_an_explicit_tag_named_like_an_implicit_one_then_400_and_no_filter_is_fooled(
    hostile_api: Api, hostile_service: str, tag
):
    reply = CREATE_BINDING.send(
        hostile_api, hostile_service, {"Address": f"push-token-{tag}", "Tag": ["news", tag]}
    )

    message = assert_twilio_error(reply, 400)["message"]
    assert message.startswith("Parameter 'Tag' is invalid")
    assert "reserved" in message
    listed = LIST_BINDINGS.send(hostile_api, hostile_service, {"Address": f"push-token-{tag}"})
    assert listed.status_code == 200
    assert listed.json()["bindings"] == []
