"""What the Twilio Messages stand-in refuses, asked directly, in Twilio's error JSON; and the
control API every stand-in shares."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator

import httpx
import pytest

from local_api.standins.twilio_messages import TwilioMessagesStandIn
from tests.providers.material import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    MESSAGING_SERVICE_SID,
    Clock,
)

PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture
def http(twilio: TwilioMessagesStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=twilio.base_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as client:
        yield client


def create(
    http: httpx.Client, *, timeout: float | None = None, **form: str | list[str]
) -> httpx.Response:
    form.setdefault("MessagingServiceSid", MESSAGING_SERVICE_SID)
    data = {k: v for k, v in form.items() if v != ""}
    if timeout is None:
        return http.post(PATH, data=data)
    return http.post(PATH, data=data, timeout=timeout)


def twilio_error(response: httpx.Response) -> tuple[int, int]:
    document = response.json()
    assert document["more_info"] == f"https://www.twilio.com/docs/errors/{document['code']}"
    assert document["status"] == response.status_code
    return response.status_code, document["code"]


def test_given_a_message_then_201_with_twilios_message_json(http, twilio, clock: Clock):
    answer = create(
        http,
        To="+15551230001",
        Body="Hello",
        MediaUrl=["https://e.com/1.png", "https://e.com/2.png"],
    )

    assert answer.status_code == 201
    message = answer.json()
    assert message["sid"].startswith("SM")
    assert len(message["sid"]) == 34
    assert (message["to"], message["body"], message["status"]) == (
        "+15551230001",
        "Hello",
        "accepted",
    )
    assert (message["num_media"], message["messaging_service_sid"]) == ("2", MESSAGING_SERVICE_SID)
    assert message["uri"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message['sid']}.json"
    created = email.utils.parsedate_to_datetime(message["date_created"])
    assert created.timestamp() == int(clock.now)
    assert message["date_created"].endswith("+0000")
    assert twilio.deliveries.all()[0]["media_urls"] == [
        "https://e.com/1.png",
        "https://e.com/2.png",
    ]


def test_given_an_api_key_then_accepted(twilio):
    with httpx.Client(base_url=twilio.base_url, auth=(API_KEY_SID, API_KEY_SECRET)) as http:
        assert create(http, To="+15551230001", Body="x").status_code == 201


@pytest.mark.parametrize(
    "auth",
    [None, (ACCOUNT_SID, "0" * 32), (API_KEY_SID, "wrong"), ("AC" + "f" * 32, AUTH_TOKEN)],
    ids=["none", "wrong token", "wrong secret", "unknown account"],
)
def test_given_bad_credentials_then_401_authenticate(twilio, auth):
    with httpx.Client(base_url=twilio.base_url, auth=auth) as http:
        answer = create(http, To="+15551230001", Body="x")

    assert twilio_error(answer) == (401, 20003)
    assert answer.json()["message"] == "Authenticate"


def test_given_credentials_of_another_account_than_the_path_then_401(twilio, http):
    twilio.register_account("AC" + "e" * 32, "e" * 32)
    with httpx.Client(base_url=twilio.base_url, auth=("AC" + "e" * 32, "e" * 32)) as other:
        assert twilio_error(create(other, To="+15551230001", Body="x")) == (401, 20003)


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"Body": "x"}, 21604),
        ({"To": "+15551230001", "Body": "x", "MessagingServiceSid": ""}, 21603),
        ({"To": "+15551230001", "Body": "x", "MessagingServiceSid": "MG123"}, 21701),
        ({"To": "+15551230001"}, 21619),
        ({"To": "+15551230001", "MessagingServiceSid": "", "From": "+15005550006"}, 21602),
        ({"To": "+15551230001", "Body": "x" * 1601}, 21617),
        ({"To": "+15551230001", "Body": "x", "MediaUrl": "ftp://e.com/a"}, 21620),
        ({"To": "+15551230001", "Body": "x", "StatusCallback": "https://my_host.com/cb"}, 21609),
        ({"To": "15551230001", "Body": "x"}, 21211),
        ({"To": "+0123", "Body": "x"}, 21211),
    ],
    ids=[
        "no To",
        "no sender",
        "bad service sid",
        "no body with a service",
        "no body with From",
        "body too long",
        "media not http",
        "callback host with _",
        "To without +",
        "To +0",
    ],
)
def test_given_an_invalid_message_then_400_with_twilios_code(http, twilio, form, code):
    assert twilio_error(create(http, **form)) == (400, code)
    assert twilio.deliveries.all() == []


@pytest.mark.parametrize(
    ("to", "code", "message"),
    [
        ("+15005550001", 21211, "The 'To' number +15005550001 is not a valid phone number."),
        ("+15005550009", 21614, "To number: +15005550009, is not a mobile number"),
    ],
)
def test_given_a_magic_test_number_then_twilios_error(http, to, code, message):
    answer = create(http, To=to, Body="x")

    assert twilio_error(answer) == (400, code)
    assert answer.json()["message"] == message


def test_given_another_path_then_404(http):
    assert twilio_error(http.get("/2010-04-01/Accounts.json")) == (404, 20404)


# --- the control API (common.py), through this stand-in ------------------------------------


def test_given_deliveries_then_listed_in_order_and_cleared_by_delete(http, twilio):
    for to in ("+15551230001", "+15551230002"):
        create(http, To=to, Body="x")

    listed = http.get("/deliveries").json()["deliveries"]
    cleared = http.delete("/deliveries")

    assert [d["to"] for d in listed] == ["+15551230001", "+15551230002"]
    assert cleared.status_code == 204
    assert http.get("/deliveries").json() == {"deliveries": []}


@pytest.mark.parametrize(
    "plan",
    [{"fail_next": "2"}, {"fail_status": 404}, {"unknown": 1}, {"fail_next": True}, ["fail"]],
)
def test_given_a_malformed_fault_plan_then_400_and_no_faults(http, plan):
    assert http.post("/faults", json=plan).status_code == 400
    assert http.get("/faults").json() == {"plans": []}


def test_given_faults_cleared_then_requests_succeed_again(http):
    http.post("/faults", json={"fail_next": 5})
    assert create(http, To="+15551230001", Body="x").status_code == 503

    assert http.delete("/faults").status_code == 204
    assert create(http, To="+15551230001", Body="x").status_code == 201


def test_given_a_drop_then_the_connection_closes_without_an_answer_but_it_was_accepted(
    http, twilio
):
    http.post("/faults", json={"drop_next": 1})

    with pytest.raises(httpx.RemoteProtocolError):
        create(http, To="+15551230001", Body="x")

    assert [d["dropped"] for d in twilio.deliveries.all()] == [True]


def test_given_a_timeout_then_the_request_is_accepted_held_past_the_clients_patience_and_dropped(
    http, twilio
):
    plan = {"timeout_next": 1, "timeout_seconds": 0.5, "seed": 1, "timeout_fraction": 0.0}
    assert http.post("/faults", json=plan).status_code == 204

    with pytest.raises(httpx.ReadTimeout):
        create(http, To="+15551230001", Body="x", timeout=0.2)
    answered = create(http, To="+15551230002", Body="y")  # a new connection, answered

    assert answered.status_code == 201
    assert [(d["to"], d["dropped"]) for d in twilio.deliveries.all()] == [
        ("+15551230001", True),
        ("+15551230002", False),
    ]
    (described,) = http.get("/faults").json()["plans"]
    assert described["injected"] == {"fail": 0, "drop": 0, "delay": 0, "timeout": 1}
