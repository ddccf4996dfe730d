"""When the invocation must have answered, and AWS calls that keep to it.

Lambda stops an invocation at its timeout, whatever it is doing, and API Gateway then answers
its own 500. So a handler records its deadline (`bounded_by(context)`: the Lambda's remaining
time, less a moment to answer), and the clients `dependencies` builds are `guard`ed: an attempt
starts only if it can end before the deadline - botocore's own retries included, and their
back-off - else the call fails at once with `OutOfTime`, which `dal.dynamo.translated_errors`
turns into 429 or 503 like the failure it cuts short.

Outside an invocation (a test, the admin CLI) there is no deadline and nothing is refused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from botocore.exceptions import ConnectionError as EndpointUnreachable
from botocore.exceptions import HTTPClientError

# Building and returning the answer once the last call is over (serialising, logging, metrics).
ANSWER_SECONDS = 0.5
# botocore's standard back-off before retry n (1-based) is at most 2**(n-1) seconds (its
# throttling scale; other errors wait less), or what DynamoDB asks with x-amz-retry-after,
# at most this much more.
_RETRY_AFTER_HEADER = "x-amz-retry-after"
_RETRY_AFTER_EXTRA_SECONDS = 5.0
_MAX_BACK_OFF_SECONDS = 20.0
# Error codes of a call refused for throughput; any other failure is "unavailable".
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
_LAST_FAILURE_THROTTLED = "notify_bindings.throttled"

# The time source and the pause, looked up at each use so that tests can run them virtually.
clock = time.monotonic
sleep = time.sleep

_deadline: ContextVar[float | None] = ContextVar("notify_bindings_deadline", default=None)
# The longest one attempt of a guarded client's calls can take.
_longest_attempt = 0.0


class OutOfTime(Exception):
    """No attempt of an AWS call can end before the invocation's deadline any more."""

    def __init__(self, throttled: bool) -> None:
        super().__init__("out of time" + (" (throttled)" if throttled else ""))
        self.throttled = throttled  # whether the last attempt was refused for throughput


@contextmanager
def bounded_by(context: Any) -> Iterator[None]:
    """The deadline of the invocation `context` (a Lambda context) belongs to, meanwhile."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:  # not a Lambda context: no deadline
        yield
        return
    with _until(clock() + remaining() / 1000 - ANSWER_SECONDS):
        yield


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """A deadline `seconds` from now (or the current one, if sooner), meanwhile."""
    with _until(min(clock() + seconds, clock() + remaining())):
        yield


@contextmanager
def _until(moment: float) -> Iterator[None]:
    token = _deadline.set(moment)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float:
    """Seconds left before the deadline (infinite without one)."""
    deadline = _deadline.get()
    return math.inf if deadline is None else deadline - clock()


def pause(seconds: float) -> None:
    """Sleep, but never past the deadline."""
    sleep(max(0.0, min(seconds, remaining())))


def guard(client: Any) -> Any:
    """Make every attempt of `client`'s calls fit the deadline; returns the client."""
    global _longest_attempt
    config = client.meta.config
    hooks = _Guard(float(config.connect_timeout) + float(config.read_timeout))
    _longest_attempt = max(_longest_attempt, hooks.attempt_seconds)
    service = client.meta.service_model.service_id.hyphenize()
    # First, so that a refusal is decided before anything is sent or slept.
    client.meta.events.register_first(f"before-send.{service}", hooks.before_send)
    client.meta.events.register_first(f"needs-retry.{service}", hooks.before_retry)
    return client


def call_fits() -> bool:
    """Whether an attempt of any guarded client's calls can still end before the deadline."""
    return remaining() >= _longest_attempt


def ran_out(error: BaseException) -> bool:
    """Whether `error` (translated from a failed call) means time ran out: the call was cut
    short for the deadline, or no call fits before it any more."""
    return isinstance(error.__cause__, OutOfTime) or not call_fits()


class _Guard:
    def __init__(self, attempt_seconds: float) -> None:
        # The longest an attempt can take: connecting, then waiting for the answer.
        self.attempt_seconds = attempt_seconds

    def before_send(self, request: Any, **_: Any) -> None:
        if remaining() < self.attempt_seconds:
            context = request.context if isinstance(request.context, dict) else {}
            raise OutOfTime(throttled=bool(context.get(_LAST_FAILURE_THROTTLED)))

    def before_retry(
        self,
        response: Any,
        caught_exception: BaseException | None,
        attempts: int,
        request_dict: dict[str, Any],
        **_: Any,
    ) -> None:
        """Give up now, with this attempt's failure, if botocore's back-off and one more
        attempt would not end before the deadline."""
        failure = _failure(response, caught_exception)
        if failure is None:
            return
        throttled = failure == "throttled"
        context = request_dict["context"]
        context[_LAST_FAILURE_THROTTLED] = throttled
        last = attempts >= context.get("retries", {}).get("max", math.inf)
        if not last and remaining() < _longest_back_off(attempts, response) + self.attempt_seconds:
            raise OutOfTime(throttled=throttled)


def _failure(response: Any, caught_exception: BaseException | None) -> str | None:
    """Whether an attempt that botocore may retry failed: "throttled", "unavailable", or
    None (it did not fail, or not in a way that is retried)."""
    if caught_exception is not None:
        retried = isinstance(caught_exception, EndpointUnreachable | HTTPClientError)
        return "unavailable" if retried else None
    if response is None:
        return None
    http_response, parsed = response
    code = (parsed.get("Error") or {}).get("Code") if isinstance(parsed, dict) else None
    if code in THROTTLING_CODES:
        return "throttled"
    if http_response.status_code >= 500 or code == "TransactionInProgressException":
        return "unavailable"
    return None


def _longest_back_off(attempts: int, response: Any) -> float:
    longest = min(2.0 ** (attempts - 1), _MAX_BACK_OFF_SECONDS)
    asked = response[0].headers.get(_RETRY_AFTER_HEADER) if response is not None else None
    if asked is not None:
        with suppress(ValueError):  # botocore ignores a malformed header too
            longest = max(longest, min(int(asked) / 1000, longest + _RETRY_AFTER_EXTRA_SECONDS))
    return longest
