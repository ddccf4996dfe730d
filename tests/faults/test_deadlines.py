"""Every request is answered before its function's timeout, however DynamoDB fails: botocore's
attempts, their timeouts and back-offs, and the layer's own retries all fit the time the
Lambda has left, and running out of it is a 429 or 503 with Retry-After, never Lambda's cut-off.
Time runs on the virtual clock (tests/faults/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Invoker
from tests.faults.conftest import ClockedFunctions, Inject
from tests.faults.oracle import refused
from tests.handlers.helpers import CREATE, DELETE, FETCH, LIST, bindings_path, create

TIMEOUTS = frozenset({"ReadTimeoutError"})
THROTTLING = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException"})
ATTEMPTS_PER_CALL = 3


def every_binding_operation(
    invoke: Invoker, service_sid: str
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each binding function, with a request it would otherwise answer with success."""
    sid = create(invoke, service_sid, Address="device-1")["sid"]
    path = bindings_path(service_sid)
    return {
        "create": (
            CREATE,
            {"path": path, "form": {"Identity": "a", "BindingType": "apn", "Address": "device-2"}},
        ),
        "fetch": (FETCH, {"path": f"{path}/{sid}"}),
        "list": (LIST, {"path": path, "query": {"Identity": "alice"}}),
        "list by tag": (LIST, {"path": path, "query": {"Tag": "apn"}}),
        "delete": (DELETE, {"path": f"{path}/{sid}"}),
    }


def invoke_request(invoke: Invoker, function: str, request: dict[str, Any]):
    return invoke(function, request.pop("path"), **request)


@pytest.mark.parametrize("operation", ["create", "fetch", "list", "list by tag", "delete"])
@pytest.mark.parametrize(
    ("faults", "status"), [(TIMEOUTS, 503), (THROTTLING, 429)], ids=["timeouts", "throttling"]
)
def test_given_dynamodb_failing_every_attempt_when_a_binding_function_runs_then_it_answers_429_or_503_before_its_timeout(  # noqa: E501
    operation,
    faults,
    status,
    inject: Inject,
    timed_invoke: Invoker,
    clocked: ClockedFunctions,
    invoke,
    service_sid,
):
    function, request = every_binding_operation(invoke, service_sid)[operation]
    injector = inject(seed=7, rate=1.0, faults=faults)

    reply = invoke_request(timed_invoke, function, request)

    assert refused(reply), reply.body
    assert reply.status == status
    ((_, elapsed, timeout),) = clocked.durations
    assert elapsed < timeout, f"answered after {elapsed:.1f} s, past the {timeout} s timeout"
    # botocore tried its attempts, and no more, before giving up on the first call.
    first_call = next(iter(injector.attempts.values()))
    assert first_call == ATTEMPTS_PER_CALL, injector.attempts
    print(f"{operation}: {injector.summary()}; answered after {elapsed:.2f} s")


def test_given_read_timeouts_that_take_longer_than_the_time_left_when_a_binding_is_fetched_then_botocore_stops_retrying_and_503_comes_in_time(  # noqa: E501
    inject: Inject, timed_invoke: Invoker, clocked: ClockedFunctions, invoke, service_sid
):
    sid = create(invoke, service_sid)["sid"]
    injector = inject(seed=7, rate=1.0, faults=TIMEOUTS)
    clocked.spent = 5.0  # 5 s of the 10 s left: one 2 s read timeout, then not a second

    reply = timed_invoke(FETCH, f"{bindings_path(service_sid)}/{sid}")

    assert reply.status == 503
    assert refused(reply)
    assert injector.total_attempts == 1, injector.attempts
    ((_, elapsed, timeout),) = clocked.durations
    assert elapsed < timeout


def test_given_a_throttle_with_no_time_for_the_back_off_and_another_attempt_when_a_binding_is_fetched_then_429_at_once(  # noqa: E501
    inject: Inject, timed_invoke: Invoker, clocked: ClockedFunctions, invoke, service_sid
):
    sid = create(invoke, service_sid)["sid"]
    injector = inject(seed=7, rate=1.0, faults=THROTTLING)
    clocked.spent = 6.0  # 3.5 s left to spend: an attempt, but not a back-off and another

    reply = timed_invoke(FETCH, f"{bindings_path(service_sid)}/{sid}")

    assert reply.status == 429  # the failure botocore gave up on, not "out of time" (503)
    assert refused(reply)
    assert injector.total_attempts == 1, injector.attempts
    ((_, elapsed, _),) = clocked.durations
    assert elapsed - clocked.spent < 0.5, "botocore slept a back-off it had no time to use"


def test_given_an_invocation_with_less_time_left_than_one_attempt_when_a_binding_is_created_then_503_and_dynamodb_is_not_called(  # noqa: E501
    inject: Inject, timed_invoke: Invoker, clocked: ClockedFunctions, service_sid
):
    injector = inject(seed=7, rate=0.0)
    clocked.spent = 7.0  # 3 s left: less than an attempt (1 s + 2 s) and the time to answer

    reply = timed_invoke(
        CREATE,
        bindings_path(service_sid),
        form={"Identity": "alice", "BindingType": "apn", "Address": "device-1"},
    )

    assert reply.status == 503
    assert refused(reply)
    assert injector.total_attempts == 0, injector.attempts


def test_given_the_template_then_each_api_function_outlasts_a_call_that_fails_all_its_attempts(
    template, functions
):
    """The client's sizing against the template: a call whose every attempt fails in the
    slowest way still ends, and is answered, before the function's timeout."""
    from notify_bindings import dependencies
    from notify_bindings.platform import deadline

    config = dependencies.dynamodb().meta.config
    attempts = config.retries["total_max_attempts"]
    attempt = config.connect_timeout + config.read_timeout
    # After failed attempt n, botocore's standard back-off waits at most 2**(n-1) s after a
    # throttle (which answers at once), 0.025 * 2**(n-1) s after anything else.
    slowest = attempt + sum(
        max(attempt + 0.025 * 2 ** (n - 1), 2 ** (n - 1)) for n in range(1, attempts)
    )
    assert attempts == ATTEMPTS_PER_CALL
    for logical_id, function in template.functions.items():
        if function.routes or logical_id == "AuthorizerFunction":
            assert slowest + deadline.ANSWER_SECONDS < function.timeout, logical_id
