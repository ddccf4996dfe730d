"""Spreading out, estimated: how long a notification to 1 million and to 10 million recipients
takes at the template's default concurrency, and what AWS charges per million recipients.

An estimate, not a measurement: nothing here runs in AWS. It combines
- the template's defaults: DeliveryConcurrency delivering functions at once, each with
  DeliverySendsInFlight sends in flight, their memory and the resolving function's;
- the work a notification does, as bench/notification_writes.py counted it at its largest
  size (DynamoDB write requests and items, read units, batches, the delivery messages' bytes)
  - or, when that has not run, the design's own figures (one batch of 1,000 recipients: a
  claim and a transaction of two items; one page UpdateItem per 1,000);
- the per-process delivery rate bench/delivery_throughput.py measured against the loopback
  stand-ins (rows naming apns, fcm and twilio with deliveries per second), when it has run. On
  loopback a provider answers in well under a millisecond, so that rate is the CPU's bound; in
  AWS a function is bound by its sends in flight over the provider's round trip, and by its
  share of a vCPU (Lambda gives one vCPU per 1,769 MB). The estimate takes the lower of the
  two; when there is no measured rate it takes the round-trip bound alone, and says so;
- assumptions, written below and in the results: the providers' round trip as seen from
  us-east-1, a resolution page's time in DynamoDB and SQS, and us-east-1 list prices.

The resolving function reads one page of 1,000 recipients after another (continuations
included) while the delivering functions take the batches as they are queued: a
notification's time is the longer of the two, plus one batch.

Run: .venv/bin/python -m bench.fleet_estimate   (writes bench/results/fleet_estimate.json)
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

from local_api.template import SamTemplate

RESULTS = Path(__file__).resolve().parent / "results" / "fleet_estimate.json"
WRITES = RESULTS.parent / "notification_writes.json"
THROUGHPUT = RESULTS.parent / "delivery_throughput.json"
TITLE = "Spreading out: time for 1M and 10M recipients, and AWS cost (estimates)"
SIZES = (1_000_000, 10_000_000)
LAMBDA_MB_PER_VCPU = 1769

# us-east-1 list prices (USD), as AWS publishes them; estimates, not a quote. Free tiers left out.
PRICES = {
    "lambda_gb_second_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "sqs_request": 0.40 / 1e6,  # standard queue; each 64 KiB of a message is a request
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand read request unit
    "kms_request": 0.03 / 10_000,
    "http_api_request": 1.00 / 1e6,  # API Gateway HTTP API, first 300 million a month
}
# Assumed, not measured here.
ASSUMED = {
    # A provider's answer to one send, from a function in us-east-1 (HTTP/2 or kept-alive
    # HTTP/1.1: no handshake per send).
    "provider_round_trip_seconds": {"apn": 0.05, "fcm": 0.05, "sms": 0.15},
    # One resolution page: a Query of 1,000 index items, a SendMessageBatch of about one
    # batch's message and one UpdateItem.
    "resolution_page_seconds": 0.1,
    # A delivering invocation's own work besides its sends: the notification, the Service,
    # the claim, the credentials (a GetItem and a KMS Decrypt each), the record.
    "batch_overhead_seconds": 0.15,
    # Credentials a batch opens (one KMS Decrypt each): one per channel in a batch.
    "credentials_per_batch": 2,
    # A single-recipient notification's create: the authorizer (cached) and the create.
    "create_seconds": 0.05,
}
# Without bench/notification_writes.py: the design's figures per batch of 1,000.
DESIGN = {
    "batch_size": 1000,
    "write_units_per_batch": 1 + 2 * 2,  # the claim; a transaction of two items, billed twice
    "write_units_per_page": 1,
    "read_units_per_recipient": 0.1,
    "message_bytes_per_recipient": 200,
}


def template_defaults(template: SamTemplate) -> dict[str, Any]:
    parameters = template.parameters
    functions = template.functions
    deliver = functions["DeliverNotificationsFunction"]
    resolve = functions["ResolveNotificationFunction"]
    return {
        "delivery_concurrency": int(parameters["DeliveryConcurrency"]),
        "sends_in_flight": int(parameters["DeliverySendsInFlight"]),
        "apns_connections": int(parameters["ApnsConnections"]),
        "deliver_memory_mb": int(deliver.memory),
        "resolve_memory_mb": int(resolve.memory),
        "create_memory_mb": int(functions["CreateNotificationFunction"].memory),
    }


_CHANNELS = {"apn": ("apns", "apn"), "fcm": ("fcm",), "sms": ("twilio", "sms")}


def measured_rates(path: Path, sends_in_flight: int) -> dict[str, float]:
    """Deliveries per second one vCPU sustains through our code, by channel, from the
    throughput benchmark: 1 / our process's CPU time per delivery where it gives it (its
    `rates`, at the most threads up to `sends_in_flight`), else the rate of ours its rows name.
    On loopback the stand-ins answer at once, so either is a bound set by the CPU."""
    if not path.exists():
        return {}
    written = json.loads(path.read_text())
    rates: dict[str, float] = {}
    entries = [entry for entry in written.get("rates", []) if isinstance(entry, dict)]
    for channel, names in _CHANNELS.items():
        mine = [e for e in entries if any(n in str(e.get("channel", "")).lower() for n in names)]
        fitting = [e for e in mine if int(e.get("threads", 1)) <= sends_in_flight] or mine
        if fitting:
            best = max(fitting, key=lambda entry: int(entry.get("threads", 1)))
            cpu = best.get("ours_cpu_us")
            rates[channel] = 1e6 / float(cpu) if cpu else float(best.get("ours", 0.0))
    for row in written.get("rows", []):
        text = f"{row.get('target', '')} {row.get('figure', '')}".lower()
        found = re.search(
            r"(\d[\d,]*(?:\.\d+)?)\s*(?:vs [\d.,]+ )?(?:deliveries\s*/\s*s|/\s*s\b)", text
        )
        if found is None:
            continue
        for channel, names in _CHANNELS.items():
            if channel not in rates and any(name in text for name in names):
                rates[channel] = float(found.group(1).replace(",", ""))
    return {channel: rate for channel, rate in rates.items() if rate > 0}


def work(path: Path) -> dict[str, Any]:
    """Per recipient: DynamoDB write units, read units, batches, pages and message bytes."""
    if path.exists():
        sizes = json.loads(path.read_text()).get("sizes", [])
        if sizes:
            largest = max(sizes, key=lambda size: size["recipients"])
            recipients = largest["recipients"]
            items = largest["items_by_operation"]
            transactional = items.get("TransactWriteItems", 0)
            write_units = largest["items_written"] + transactional  # a transaction's, twice
            return {
                "source": f"bench/notification_writes.py at {recipients:,} recipients",
                "write_units": write_units / recipients,
                "write_requests": largest["write_requests"] / recipients,
                "read_units": largest["read_units_estimated"] / recipients,
                "batches": largest["batches"] / recipients,
                "message_bytes": largest.get("delivery_message_bytes", 0) / recipients
                or DESIGN["message_bytes_per_recipient"],
            }
    batch = DESIGN["batch_size"]
    return {
        "source": "the design's figures (bench/notification_writes.py has not run)",
        "write_units": (DESIGN["write_units_per_batch"] + DESIGN["write_units_per_page"]) / batch,
        "write_requests": 3 / batch,
        "read_units": DESIGN["read_units_per_recipient"],
        "batches": 1 / batch,
        "message_bytes": DESIGN["message_bytes_per_recipient"],
    }


def in_flight(channel: str, defaults: dict[str, Any]) -> int:
    """Sends of a channel one function has in flight: its sends in flight, and for APNs no
    more than its connections (one send at a time each)."""
    if channel == "apn":
        return min(defaults["sends_in_flight"], defaults["apns_connections"])
    return int(defaults["sends_in_flight"])


def function_rate(channel: str, defaults: dict[str, Any], measured: dict[str, float]) -> float:
    """Deliveries per second of one delivering function in AWS, estimated."""
    round_trip = ASSUMED["provider_round_trip_seconds"][channel]
    bound = in_flight(channel, defaults) / round_trip
    if channel in measured:
        cpu_share = min(1.0, defaults["deliver_memory_mb"] / LAMBDA_MB_PER_VCPU)
        bound = min(bound, measured[channel] * cpu_share)
    return bound


def estimate(
    recipients: int, rate: float, defaults: dict[str, Any], per: dict[str, Any]
) -> dict[str, float]:
    batches = math.ceil(recipients * per["batches"])
    per_batch = recipients / batches
    batch_seconds = per_batch / rate + ASSUMED["batch_overhead_seconds"]
    delivering = math.ceil(batches / defaults["delivery_concurrency"]) * batch_seconds
    resolving = math.ceil(recipients / 1000) * ASSUMED["resolution_page_seconds"]
    return {
        "batches": batches,
        "batch_seconds": batch_seconds,
        "delivering_seconds": delivering,
        "resolving_seconds": resolving,
        "seconds": max(delivering, resolving + batch_seconds),
    }


def cost_one_notification(
    recipients: int, rate: float, defaults: dict[str, Any], per: dict[str, Any]
) -> dict[str, float]:
    """USD for one notification to `recipients`, by item."""
    timing = estimate(recipients, rate, defaults, per)
    batches = timing["batches"]
    deliver_gb = defaults["deliver_memory_mb"] / 1024
    resolve_gb = defaults["resolve_memory_mb"] / 1024
    pages = math.ceil(recipients / 1000)
    message_requests = math.ceil(per["message_bytes"] * recipients / batches / 65536)
    sqs_requests = batches * (2 * message_requests + 1) + 3 * math.ceil(
        timing["resolving_seconds"] / 55 + 1
    )
    return {
        "lambda_gb_seconds": (
            batches * timing["batch_seconds"] * deliver_gb
            + pages * ASSUMED["resolution_page_seconds"] * resolve_gb
        )
        * PRICES["lambda_gb_second_arm64"],
        "lambda_requests": (batches + math.ceil(timing["resolving_seconds"] / 55 + 1) + 1)
        * PRICES["lambda_request"],
        "sqs_requests": sqs_requests * PRICES["sqs_request"],
        "dynamodb_writes": per["write_units"] * recipients * PRICES["dynamodb_write_unit"],
        "dynamodb_reads": per["read_units"] * recipients * PRICES["dynamodb_read_unit"],
        "kms_decrypts": batches * ASSUMED["credentials_per_batch"] * PRICES["kms_request"],
        "api_request": PRICES["http_api_request"],
    }


def cost_single_recipient(defaults: dict[str, Any]) -> dict[str, float]:
    """USD for one notification to one recipient (an APNs token), by item: the fixed costs."""
    seconds = ASSUMED["provider_round_trip_seconds"]["apn"] + ASSUMED["batch_overhead_seconds"]
    gb = {name: defaults[f"{name}_memory_mb"] / 1024 for name in ("deliver", "resolve", "create")}
    return {
        "lambda_gb_seconds": (
            seconds * gb["deliver"]
            + ASSUMED["resolution_page_seconds"] * gb["resolve"]
            + ASSUMED["create_seconds"] * gb["create"]
        )
        * PRICES["lambda_gb_second_arm64"],
        "lambda_requests": 3 * PRICES["lambda_request"],
        # each queue: a send, a receive, a delete
        "sqs_requests": 6 * PRICES["sqs_request"],
        # create 1, page 1, claim 1, the record's transaction 2 x 2
        "dynamodb_writes": 7 * PRICES["dynamodb_write_unit"],
        # resolve: notification, Service, index; deliver: notification, Service, credential
        "dynamodb_reads": 6 * PRICES["dynamodb_read_unit"],
        "kms_decrypts": 1 * PRICES["kms_request"],
        "api_request": PRICES["http_api_request"],
    }


def dollars(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 else f"${value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=Path, default=None, help="notification_writes.json")
    parser.add_argument("--throughput", type=Path, default=None, help="delivery_throughput.json")
    args = parser.parse_args()
    defaults = template_defaults(SamTemplate.load())
    per = work(args.writes or RESULTS.parent / WRITES.name)
    measured = measured_rates(
        args.throughput or RESULTS.parent / THROUGHPUT.name, defaults["sends_in_flight"]
    )
    cpu_share = min(1.0, defaults["deliver_memory_mb"] / LAMBDA_MB_PER_VCPU)
    round_trips = ASSUMED["provider_round_trip_seconds"]
    rates = {
        channel: function_rate(channel, defaults, measured) for channel in ("apn", "fcm", "sms")
    }
    at_once = defaults["delivery_concurrency"] * defaults["sends_in_flight"]
    shape = (
        f"{defaults['delivery_concurrency']} delivering functions x "
        f"{defaults['sends_in_flight']} sends in flight = {at_once} at once; APNs "
        f"{defaults['apns_connections']} connections each"
    )
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    print(f"defaults: {shape}; work per recipient from {per['source']}")
    for channel in ("apn", "fcm"):
        rate = rates[channel]
        source = (
            f"CPU-bound: {measured[channel]:,.0f}/s a vCPU measured x its share"
            if channel in measured and rate < in_flight(channel, defaults) / round_trips[channel]
            else f"{in_flight(channel, defaults)} in flight / "
            f"{ASSUMED['provider_round_trip_seconds'][channel] * 1000:.0f} ms"
        )
        for size in SIZES:
            timing = estimate(size, rate, defaults, per)
            figure = (
                f"{timing['seconds'] / 60:.1f} min ({timing['batches']:,} batches; delivering "
                f"{timing['delivering_seconds']:.0f} s at {rate:,.0f}/s a function ({source}), "
                f"resolving {timing['resolving_seconds']:.0f} s)"
            )
            rows.append(
                {
                    "target": f"time for {size:,} {channel} recipients at the defaults ({shape})",
                    "figure": figure,
                    "limit": "no target (estimate)",
                    "met": True,
                }
            )
            print(f"{size:>12,} {channel}: {figure}")
    costs = cost_one_notification(1_000_000, rates["apn"], defaults, per)
    single = {name: value * 1_000_000 for name, value in cost_single_recipient(defaults).items()}
    for label, cost in (
        ("one notification to 1,000,000 APNs recipients", costs),
        ("1,000,000 notifications to one APNs recipient each", single),
    ):
        detail = ", ".join(
            f"{name.replace('_', ' ')} {dollars(value)}" for name, value in cost.items()
        )
        rows.append(
            {
                "target": f"AWS cost of {label}",
                "figure": f"{dollars(sum(cost.values()))} ({detail})",
                "limit": "no target (estimate)",
                "met": True,
            }
        )
        print(f"cost of {label}: {dollars(sum(cost.values()))} ({detail})")
    notes += [
        "Estimates from the template's defaults, the counted work of a notification and "
        "assumed latencies; nothing was run in AWS. Prices: us-east-1 list prices (USD, "
        "arm64 Lambda, on-demand DynamoDB, standard SQS, no free tier): "
        + ", ".join(f"{name} {value:.10g}" for name, value in PRICES.items())
        + ".",
        "Assumed: " + json.dumps(ASSUMED) + ".",
        f"Work per recipient from {per['source']}: {per['write_units']:.4f} write units "
        f"(a transaction's items billed twice), {per['read_units']:.4f} read units (estimated "
        f"from the items' sizes), {per['message_bytes']:.0f} bytes of delivery messages.",
        (
            "CPU-bound rates from bench/delivery_throughput.py (loopback; 1 / our process's "
            "CPU per delivery where it gives it): "
            + ", ".join(f"{channel} {rate:,.0f}/s a vCPU" for channel, rate in measured.items())
            + f"; in AWS scaled by the function's share of a vCPU "
            f"({defaults['deliver_memory_mb']} MB / {LAMBDA_MB_PER_VCPU} MB = "
            f"{cpu_share:.2f}): "
            + ", ".join(
                f"{channel} {rate * cpu_share:,.0f}/s" for channel, rate in measured.items()
            )
            + ". A function sends at the lower of that and its sends in flight over the "
            "provider's round trip: with the round trips assumed, it is bound by its CPU "
            "beyond about "
            + ", ".join(
                f"{channel} {rate * cpu_share * round_trips[channel]:.0f}"
                for channel, rate in measured.items()
            )
            + " sends in flight (more memory, more CPU)."
        )
        if measured
        else "No measured per-process rate (bench/delivery_throughput.py has not run): each "
        "function's rate is its sends in flight over the assumed round trip, not bounded by "
        "CPU.",
        "Time is the longer of resolving (one page of 1,000 after another) and delivering "
        "(the batches over the delivering functions), plus one batch. Raising "
        "DeliveryConcurrency or DeliverySendsInFlight shortens delivering; resolving is one "
        "notification's pages in order, so a notification to millions is bound by it first.",
        "Not included: CloudWatch Logs and metrics, data transfer out to the providers, the "
        "delivery callbacks, SQS's empty receives while idle, and the free tiers.",
    ]
    result = {
        "title": TITLE,
        "rows": rows,
        "notes": notes,
        "defaults": defaults,
        "rates_per_function": rates,
        "measured_rates": measured,
        "work_per_recipient": per,
        "prices": PRICES,
        "assumed": ASSUMED,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
