"""Fixtures of the fault tests: a virtual clock, faults injected into the layer's DynamoDB client,
and the template's functions invoked on that clock, each invocation timed against its timeout.

Every test here runs with botocore's back-off sleeps on the virtual clock, so a storm of
throttling costs no real waiting; how long an invocation would have taken is measured on that
clock and must stay within the function's timeout in template.yaml.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint
import pytest

from local_api.events import LambdaContext
from local_api.runtime import LocalFunctions
from tests.conftest import Credentials, Invoker
from tests.faults.injector import FAULT_NAMES, FaultInjector, VirtualClock
from tests.faults.summary import FAULTS


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    virtual = VirtualClock()
    # botocore sleeps between its attempts through `time.sleep` of its endpoint module.
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=virtual.sleep))
    from notify_bindings.platform import deadline

    monkeypatch.setattr(deadline, "clock", virtual.now)
    monkeypatch.setattr(deadline, "sleep", virtual.sleep)
    return virtual


Inject = Callable[..., FaultInjector]


@pytest.fixture
def inject(
    request: pytest.FixtureRequest, clock: VirtualClock, functions: LocalFunctions
) -> Iterator[Inject]:
    """Installs a FaultInjector on the layer's shared DynamoDB client (the one every function
    of this process uses). The test gets a client of its own, as a new execution environment
    would, so that botocore's retry quota starts full and a seed replays the same storm; the
    next test gets a clean one."""
    from notify_bindings import dependencies

    dependencies.reset()
    injectors: list[FaultInjector] = []

    def install(
        seed: int,
        rate: float,
        faults: frozenset[str] = FAULT_NAMES,
        operations: frozenset[str] | None = None,
        script: list[str | None] | None = None,
    ) -> FaultInjector:
        injector = FaultInjector(
            seed, rate, clock, faults=faults, operations=operations, script=list(script or [])
        )
        injector.install(dependencies.dynamodb())
        injectors.append(injector)
        FAULTS.storms.append((request.node.name, injector))
        return injector

    yield install
    for injector in injectors:
        injector.uninstall()
    dependencies.reset()


@dataclass
class ClockedFunctions:
    """The template's functions, invoked as LocalFunctions invokes them, with a context whose
    remaining time runs on the virtual clock; records how long each invocation took on it."""

    local: LocalFunctions
    clock: VirtualClock
    durations: list[tuple[str, float, int]] = field(default_factory=list)
    # Seconds each invocation has already run when its handler starts (as after a slow
    # start): the handler has that much less time left.
    spent: float = 0.0

    @property
    def functions(self) -> Any:
        return self.local.functions

    def timeout(self, logical_id: str) -> int:
        return int(self.functions[logical_id].timeout)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        function = self.functions[logical_id]
        context = ClockedContext(
            function_name=logical_id,
            memory_limit_in_mb=function.memory,
            timeout_seconds=function.timeout,
            _started=self.clock.now() - self.spent,
            clock=self.clock,
        )
        try:
            response: dict[str, Any] = function.load_handler()(event, context)
        finally:
            elapsed = self.clock.now() - context._started
            self.durations.append((logical_id, elapsed, function.timeout))
            FAULTS.invocations += 1
        return response

    def overran(self) -> list[tuple[str, float, int]]:
        """The invocations that would have been cut off by their function's timeout."""
        return [entry for entry in self.durations if entry[1] >= entry[2]]


@dataclass
class ClockedContext(LambdaContext):
    clock: VirtualClock | None = None

    def get_remaining_time_in_millis(self) -> int:
        assert self.clock is not None
        elapsed = self.clock.now() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


@pytest.fixture
def clocked(functions: LocalFunctions, clock: VirtualClock) -> ClockedFunctions:
    return ClockedFunctions(functions, clock)


@pytest.fixture
def timed_invoke(clocked: ClockedFunctions, account: Credentials) -> Invoker:
    """`invoke` of tests/conftest.py, on the virtual clock."""
    return Invoker(clocked, account.sid)  # type: ignore[arg-type] # the same two members
