"""What the schemathesis cases got back, for the conformance tests' own checks and for the
"schemathesis" section of pytest's closing summary (tests/summaries.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.summaries import Summary


@dataclass
class Tally(Summary):
    """Generated cases per document, the statuses each operation answered, and the failures
    set aside as deliberate differences (by the reason design.md gives)."""

    title = "schemathesis"

    cases: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, dict[str, Counter[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )

    set_aside: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def record(self, document: str, operation: str, status: int) -> None:
        self.cases[document] += 1
        self.statuses[document][operation][status] += 1

    def figures(self) -> dict[str, Any]:
        if not self.cases:
            return {}
        return {
            "cases": dict(self.cases),
            "statuses": {
                document: {operation: dict(counts) for operation, counts in operations.items()}
                for document, operations in self.statuses.items()
            },
            "set_aside": {document: dict(counts) for document, counts in self.set_aside.items()},
        }

    def lines(self, figures: dict[str, Any]) -> list[str]:
        lines = []
        for document, count in figures["cases"].items():
            answered = {
                operation: dict(sorted(statuses.items()))
                for operation, statuses in figures["statuses"][document].items()
            }
            lines.append(f"{document}: {count} generated cases")
            lines.extend(
                f"  {operation}: {statuses}" for operation, statuses in sorted(answered.items())
            )
            lines.extend(
                f"  set aside {times}x, deliberate: {why}"
                for why, times in sorted(figures["set_aside"].get(document, {}).items())
            )
        return lines


TALLY = Tally()
