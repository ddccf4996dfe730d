"""bench/report.md from the figures the benchmarks wrote to bench/results/*.json.

Each benchmark (`make bench` runs them all first) writes a title, rows of target / figure /
limit / met, and notes. This puts them in one table per benchmark, leads with every target
that was missed, and shows the charts (bench/listing_scale.png, bench/delivery_throughput.png)
in their sections when they exist. Nothing
here measures: a benchmark that did not run is reported as missing.

Run: .venv/bin/python -m bench.report
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
REPORT = BENCH / "report.md"
# A section's chart, shown under its table when the benchmark drew it.
CHARTS = {
    "listing_scale": (BENCH / "listing_scale.png", "Items read per page versus Service size"),
    "delivery_throughput": (
        BENCH / "delivery_throughput.png",
        "Deliveries per second, ours against a bare loop, per channel",
    ),
}
# The order of the targets.
SECTIONS = (
    "cold_start",
    "warm_overhead",
    "round_trips",
    "listing_scale",
    "expired_listing",
    "memory",
    "resolution_cost",
    "notification_writes",
    "delivery_throughput",
    "end_to_end",
    "fleet_estimate",
)


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def has_target(row: dict[str, Any]) -> bool:
    return not str(row["limit"]).startswith("no target")


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| | measured | figure | target |", "| --- | --- | --- | --- |"]
    for row in rows:
        mark = "-" if not has_target(row) else "met" if row["met"] else "**missed**"
        lines.append(
            f"| {mark} | {cell(row['target'])} | {cell(row['figure'])} | {cell(row['limit'])} |"
        )
    return lines


def render(results: dict[str, dict[str, Any] | None]) -> str:
    ran = {name: result for name, result in results.items() if result is not None}
    rows = [row for result in ran.values() for row in result["rows"] if has_target(row)]
    missed = [row for row in rows if not row["met"]]
    lines = [
        "# Benchmark report",
        "",
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python "
        f"{platform.python_version()} on {platform.machine()}, against the embedded moto "
        "DynamoDB (figures of DynamoDB work - round trips, items read - carry over to AWS; "
        "times are local and relative).",
        "",
        f"**{len(rows) - len(missed)} of {len(rows)} figures with a target meet it.** Rows "
        "marked - are reported for context and have no target.",
        "",
    ]
    not_run = [name for name, result in results.items() if result is None]
    if not_run:
        lines += [f"Not run: {', '.join(not_run)}.", ""]
    if missed:
        lines += ["## Missed", "", *table(missed), ""]
    for name, result in ran.items():
        lines += [f"## {result['title']}", "", *table(result["rows"]), ""]
        chart, caption = CHARTS.get(name, (None, ""))
        if chart is not None and chart.exists():
            lines += [f"![{caption}]({chart.name})", ""]
        lines += [f"- {note}" for note in result.get("notes", [])]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    REPORT.write_text(render({name: load(name) for name in SECTIONS}))
    print(f"wrote {REPORT.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main()
