"""The authorizer under storms of DynamoDB faults, through the template's function.

It reads AccountsTable to check credentials it has not proven yet. When DynamoDB fails
that read, the credentials are unchecked, neither good nor bad: it must say so (authError
20429 or 20503, which the route's handler answers as 429 or 503 with Retry-After), never
prove an account the credentials do not, never refuse good ones as wrong (a 401), and never
fail itself (API Gateway would answer its own 500). It answers before its timeout.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from local_api.events import http_api_event, with_authorizer_context
from local_api.template import SamTemplate
from tests.conftest import Reply
from tests.factories import account_store, basic
from tests.faults.conftest import ClockedFunctions, Inject
from tests.faults.oracle import refused
from tests.handlers.test_services import LIST_SERVICES

AUTHORIZER = "AuthorizerFunction"
UNCHECKED = {"20429", "20503"}


@dataclass(frozen=True)
class Case:
    header: str
    account_sid: str | None  # what the credentials prove, if anything


def credentials(count: int) -> list[Case]:
    """Fresh credentials (the authorizer has proven none of them, so each is read from
    DynamoDB): account tokens, API keys, and wrong secrets for both."""
    store = account_store()
    cases = []
    for _ in range(count):
        account, token = store.create_account("Faults")
        key, secret = store.create_api_key(account.sid)
        cases += [
            Case(basic(account.sid, token), account.sid),
            Case(basic(key.sid, secret), account.sid),
            Case(basic(account.sid, "0" * 32), None),
            Case(basic(key.sid, token), None),
        ]
    return cases


def authorizer_event(template: SamTemplate, header: str) -> dict[str, Any]:
    (route,) = template.functions[LIST_SERVICES].routes
    return http_api_event(route, "/v1/Services", headers={"Authorization": header})


@pytest.mark.parametrize("seed", [31, 32])
def test_given_a_storm_of_dynamodb_faults_when_credentials_are_checked_then_the_authorizer_never_misjudges_them_and_unchecked_ones_answer_429_or_503(  # noqa: E501
    seed, inject: Inject, clocked: ClockedFunctions, template
):
    cases = credentials(10)
    random.Random(seed).shuffle(cases)
    faults = inject(seed=seed, rate=0.6)
    outcomes = {"proven": 0, "refused": 0, "unchecked": 0}

    for case in cases:
        event = authorizer_event(template, case.header)
        answer = clocked.invoke(AUTHORIZER, event)

        assert answer["isAuthorized"] is True
        context = answer["context"]
        if "authError" in context:
            assert context == {"authError": context["authError"]}
            assert context["authError"] in UNCHECKED, context
            outcomes["unchecked"] += 1
            with faults.paused():  # the route's handler, given what the authorizer said
                reply = clocked.invoke(LIST_SERVICES, with_authorizer_context(event, context))
            assert refused(reply_of(reply)), reply
        elif case.account_sid is None:
            assert context == {}, f"wrong credentials proved {context}"
            outcomes["refused"] += 1
        else:
            assert context == {"accountSid": case.account_sid}, "good credentials refused"
            outcomes["proven"] += 1

    summary = f"{faults.summary()}; {len(cases)} credentials: {outcomes}"
    print(summary)
    assert all(outcomes.values()), summary
    assert not clocked.overran(), f"invocations past their timeout: {clocked.overran()}"


def test_given_dynamodb_failing_every_attempt_when_credentials_are_checked_then_unchecked_before_the_timeout(  # noqa: E501
    inject: Inject, clocked: ClockedFunctions, template
):
    (case, *_) = credentials(1)
    injector = inject(seed=33, rate=1.0, faults=frozenset({"ReadTimeoutError"}))

    answer = clocked.invoke(AUTHORIZER, authorizer_event(template, case.header))

    assert answer["context"] == {"authError": "20503"}
    assert injector.total_attempts == 3, injector.attempts
    ((_, elapsed, timeout),) = clocked.durations
    assert elapsed < timeout


def test_given_an_invocation_with_less_time_left_than_one_attempt_then_unchecked_without_calling_dynamodb(  # noqa: E501
    inject: Inject, clocked: ClockedFunctions, template
):
    (case, *_) = credentials(1)
    injector = inject(seed=34, rate=0.0)
    clocked.spent = 7.0  # 3 s left: less than an attempt (1 s + 2 s) and the time to answer

    answer = clocked.invoke(AUTHORIZER, authorizer_event(template, case.header))

    assert answer["context"] == {"authError": "20503"}
    assert injector.total_attempts == 0, injector.attempts


def reply_of(response: dict[str, Any]) -> Reply:
    return Reply(response["statusCode"], response.get("headers", {}), response["body"])
