"""The "DynamoDB faults" section of pytest's closing summary: what every fault test injected
and ran (tests/summaries.py)."""

from __future__ import annotations

from typing import Any

from tests.faults.injector import FaultInjector
from tests.summaries import Summary


class FaultStorms(Summary):
    title = "DynamoDB faults"

    def __init__(self) -> None:
        self.storms: list[tuple[str, FaultInjector]] = []  # (test name, its injector)
        self.invocations = 0  # of the functions, on the virtual clock

    def figures(self) -> dict[str, Any]:
        if not self.storms and not self.invocations:
            return {}
        return {
            "invocations": self.invocations,
            "storms": [
                [name, injector.total_injected, injector.total_attempts, injector.summary()]
                for name, injector in self.storms
            ],
        }

    def lines(self, figures: dict[str, Any]) -> list[str]:
        storms = figures["storms"]
        if not storms:
            return []
        injected = sum(storm[1] for storm in storms)
        attempts = sum(storm[2] for storm in storms)
        return [
            f"{injected} faults injected into {attempts} DynamoDB attempts of "
            f"{figures['invocations']} invocations, in {len(storms)} storms",
            *(f"  {name}: {summary}" for name, _, _, summary in storms),
        ]


FAULTS = FaultStorms()
