"""Each benchmark of `make bench` still runs, on a few iterations.

`make bench` is not part of CI (it takes many minutes), so without these a change elsewhere -
a new environment variable of the template, a renamed module - breaks it unseen. Each runs in
its own interpreter, as `make bench` runs it, writing its results to a temporary directory
rather than over bench/results/. The figures are not checked here: only that the benchmark
measures and prints them. (bench/listing_scale.py draws its chart with matplotlib, which only
`make bench` installs; its parts are tested in this directory's other files.)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.cold_start import IMPORT_GROUPS
from local_api.template import PROJECT_ROOT, SamTemplate

pytestmark = pytest.mark.slow

# Runs a benchmark's main() with its results written to the path given first.
_RUN = """
import importlib, sys
from pathlib import Path
from typing import Any
module = importlib.import_module(sys.argv[1])
module.RESULTS = Path(sys.argv[2])
sys.argv = [sys.argv[1], *sys.argv[3:]]
module.main()
"""


def run_bench(module: str, results: Path, *arguments: str) -> str:
    finished = subprocess.run(
        [sys.executable, "-c", _RUN, module, str(results), *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished.stdout


def test_the_cold_start_benchmark_runs(tmp_path):
    results = tmp_path / "cold_start.json"
    printed = run_bench(
        "bench.cold_start", results, "--runs", "1", "--no-layer-build", "--no-instructions"
    )

    assert "FetchBindingFunction" in printed
    written = json.loads(results.read_text())
    assert set(written["functions"]) == set(SamTemplate.load().functions)
    # The delivering function's first request sent to the APNs stand-in, and was accepted.
    assert (
        "first APNs send" in written["functions"]["DeliverNotificationsFunction"]["first_request"]
    )
    targets = [row["target"] for row in written["rows"]]
    assert any(target.startswith("SnapStart estimate") for target in targets)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="counts instructions with valgrind")
def test_the_cold_start_benchmark_splits_a_functions_instructions(tmp_path):
    results = tmp_path / "cold_start.json"
    run_bench(
        "bench.cold_start",
        results,
        "--runs",
        "1",
        "--no-layer-build",
        "--function",
        "AuthorizerFunction",
    )

    written = json.loads(results.read_text())
    parts = written["instructions"]["AuthorizerFunction"]
    # Every part counted, and the target judged on their sum against the baseline's.
    assert set(parts) == {"interpreter start-up", *IMPORT_GROUPS, "first request"}
    assert all(parts[part] > 0 for part in ("botocore", "ours", "first request"))
    target = f"cold start: AuthorizerFunction (Python {written['python'].split()[0]})"
    (row,) = [r for r in written["rows"] if r["target"] == target]
    assert row["figure"].split("x in instructions")[0] == (
        f"{sum(parts.values()) / sum_of_baseline(written):.3f}"
    )


def sum_of_baseline(written: dict[str, Any]) -> int:
    (baseline,) = [v for k, v in written["instructions"].items() if k.startswith("baseline")]
    return sum(count for part, count in baseline.items() if part != "whole")


def test_the_warm_overhead_benchmark_runs(tmp_path):
    printed = run_bench(
        "bench.warm_overhead",
        tmp_path / "warm_overhead.json",
        *("--only", "fetch binding", "--iterations", "3", "--warmup", "1"),
    )

    # The operation's row: rounds, then the handler's and bare boto3's median milliseconds.
    assert re.search(r"fetch binding\s+\d+\s+wall\s+\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+", printed)


def test_the_round_trips_benchmark_runs(tmp_path):
    results = tmp_path / "round_trips.json"
    printed = run_bench("bench.round_trips", results, "--out", str(results))

    assert "every target met" in printed
    assert json.loads(results.read_text())["rows"]


def test_the_memory_benchmark_runs(tmp_path):
    results = tmp_path / "memory.json"
    run_bench(
        "bench.memory",
        results,
        *("--function", "FetchBindingFunction", "--function", "PublishChangesFunction"),
        *("--function", "ReportDeadTokensFunction", "--function", "ForgetExpiredFunction"),
        *("--function", "CreateCredentialFunction", "--function", "ResolveNotificationFunction"),
        *("--function", "DeliverNotificationsFunction"),
        *("--invocations", "3", "--no-layer-build"),
    )

    figures = {row["target"]: row["figure"] for row in json.loads(results.read_text())["rows"]}
    delivering = "warm DeliverNotificationsFunction peak RSS with its connection pool"
    assert figures[delivering].endswith(" MB"), figures
    for function in (
        "FetchBindingFunction",
        "PublishChangesFunction",
        "ReportDeadTokensFunction",
        "ForgetExpiredFunction",
        "CreateCredentialFunction",
        "ResolveNotificationFunction",
    ):
        assert figures[f"peak RSS: {function}"].endswith(" MB"), figures  # not "not measured"


def test_the_authorizer_latency_benchmark_runs(tmp_path):
    printed = run_bench("bench.authorizer_latency", tmp_path / "unused.json", "--requests", "5")

    for label in (
        "authorizer, credentials cached",
        "authorizer, DynamoDB check",
        "fetch handler it guards",
    ):
        assert re.search(rf"{label}\s+\d+\.\d+ ms", printed), printed


def test_the_expired_listing_benchmark_runs(tmp_path):
    results = tmp_path / "expired_listing.json"
    printed = run_bench("bench.expired_listing", results, "--size", "2000")

    rows = {row["target"]: row for row in json.loads(results.read_text())["rows"]}
    assert re.search(r"\d+ of them expired and not deleted", printed)
    no_filter = rows["list at 2,000 with 10% expired, no filter: no filter"]
    assert re.match(r"\d+\.\d\d items read per binding returned", no_filter["figure"])


def test_the_provider_imports_benchmark_runs(tmp_path):
    results = tmp_path / "provider_imports.json"
    printed = run_bench("bench.provider_imports", results, "--runs", "1", "--no-layer-build")

    # A row: its label, then wall, CPU and importtime milliseconds.
    assert re.search(r"providers\.apns\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d", printed)
    rows = {row["row"] for row in json.loads(results.read_text())["rows"]}
    assert {"import httpx", "import jwt (PyJWT, loads cryptography)"} <= rows


def test_the_delivery_throughput_benchmark_runs(tmp_path):
    results = tmp_path / "delivery_throughput.json"
    printed = run_bench(
        "bench.delivery_throughput",
        results,
        *("--rounds", "1", "--deliveries", "20", "--no-chart"),
    )

    # A row per channel and concurrency: its threads, then ours and bare deliveries per second.
    for channel in ("APNs", "FCM", "Twilio Messages"):
        for threads in (1, 8):
            assert re.search(rf"{channel}\s+{threads}\s+\d+\s+\d+\s+\d+\.\d\dx", printed), printed
    rows = json.loads(results.read_text())["rows"]
    assert len(rows) == 6
    assert all(re.match(r"\d+ vs \d+ deliveries/s .*\d\.\d\dx", row["figure"]) for row in rows)


def test_the_resolution_cost_benchmark_runs(tmp_path):
    results = tmp_path / "resolution_cost.json"
    printed = run_bench("bench.resolution_cost", results, "--size", "2000")

    rows = json.loads(results.read_text())["rows"]
    assert re.search(r"all \(a tag every binding holds\)\s+2,0\d\d\s+", printed), printed
    assert len([row for row in rows if "items read per recipient" in row["figure"]]) == 6
    assert any(row["target"].startswith("resolution by several tags, many-tags") for row in rows)


def test_the_notification_writes_benchmark_runs(tmp_path):
    results = tmp_path / "notification_writes.json"
    printed = run_bench("bench.notification_writes", results, "--sizes", "1200")

    assert re.search(r"1,200 recipients:\s+2 batches,\s+\d+ write requests", printed), printed
    (row,) = json.loads(results.read_text())["rows"]
    assert re.match(r"\d+\.\d{3} \(\d+ items in \d+ write requests, 2 batches\)", row["figure"])


def test_the_fleet_estimate_runs_from_the_results_it_finds(tmp_path):
    throughput = tmp_path / "delivery_throughput.json"
    throughput.write_text(
        json.dumps(
            {
                "rows": [{"target": "throughput: FCM, 8 threads", "figure": "2,000 deliveries/s"}],
                "rates": [
                    {"channel": "APNs", "threads": 1, "ours": 900, "ours_cpu_us": 1000},
                    {"channel": "APNs", "threads": 8, "ours": 1000, "ours_cpu_us": 500},
                    {"channel": "APNs", "threads": 16, "ours": 1100, "ours_cpu_us": 400},
                ],
            }
        )
    )
    results = tmp_path / "fleet_estimate.json"
    printed = run_bench(
        "bench.fleet_estimate",
        results,
        *("--throughput", str(throughput), "--writes", str(tmp_path / "absent.json")),
    )

    written = json.loads(results.read_text())
    # APNs: 1 / the CPU per delivery at the template's 8 sends in flight; FCM from its row.
    assert written["measured_rates"] == {"apn": 2000.0, "fcm": 2000.0}
    assert "the design's figures" in written["work_per_recipient"]["source"]
    assert re.search(r"10,000,000 apn: \d+\.\d min", printed)
    assert any(row["target"].startswith("AWS cost of") for row in written["rows"])


def test_the_end_to_end_benchmark_runs(tmp_path):
    results = tmp_path / "end_to_end.json"
    printed = run_bench(
        "bench.end_to_end",
        results,
        *("--recipients", "300", "--faults", "0.2", "--fault-recipients", "100"),
        *("--timeout-seconds", "0.5"),  # a timed-out request dropped before the client gives up
    )

    assert re.search(r"300 recipients in \d+\.\d s", printed), printed
    rows = json.loads(results.read_text())["rows"]
    assert [row["met"] for row in rows] == [True, True, True], rows
