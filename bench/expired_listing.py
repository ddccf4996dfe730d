"""Listing a Service where a tenth of the bindings have expired and DynamoDB's TTL has not
deleted any of them yet: DynamoDB items read per binding returned.

Expiry is exact: every list leaves an expired binding out from the second it expires, but
until TTL deletes its items (days, at worst) a list still reads them and filters them out. This
measures what that costs, for the lists of `bench/listing_scale.py`.

Population: `bench/listing_scale.py`'s seeded generator (the same identities, tags and dates),
each binding given an expiry: one in ten an hour ago, the rest in a month. Its items are those
`BindingStore.put` writes for them (expiry on every item), written straight into moto's tables
(`bench/moto_at_scale.py`), and nothing of the expired ones is deleted. Every list goes through
ListBindingsFunction, following `next_page_url` as listing_scale does; every page is checked
against the generator's own model of what is live, and the items read are each response's
ScannedCount plus what each BatchGetItem returned.

Target: as for every list, at most 2 items read per binding returned on every page; lists by
several tags are reported against listing_scale's figures (their many-tags partition has its
own bound), the list with no filter is reported.

Run: .venv/bin/python -m bench.expired_listing [--size 20000] [--expired-share 0.1]
Writes bench/results/expired_listing.json. About a minute.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import moto_at_scale
from bench.listing_scale import (
    READS_PER_BINDING,
    SEED,
    Case,
    Lister,
    PageRead,
    Population,
    cases,
    check_pages,
    expected_sids,
    quietly,
)
from bench.local_functions import start_functions
from local_api.runtime import dynamodb_client, keep_aws_local, put_layers_on_path
from local_api.template import SamTemplate

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "expired_listing.json"
TITLE = "Listing with expired bindings that TTL has not deleted: items read per binding returned"
SIZE = 20_000
EXPIRED_SHARE = 0.1
UNTARGETED = ("several tags", "no filter")  # reported: see the module's docstring


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--expired-share", type=float, default=EXPIRED_SHARE)
    args = parser.parse_args()
    began = time.perf_counter()
    keep_aws_local()
    template = SamTemplate.load()
    put_layers_on_path(template)
    from moto import mock_aws

    from local_api import moto_patches

    moto_patches.install()
    with mock_aws(), moto_at_scale.faster():
        rows, detail = run(template, args.size, args.expired_share)
    detail["bench_seconds"] = time.perf_counter() - began
    report(rows, detail, args.size, args.expired_share)


def run(template: SamTemplate, size: int, share: float) -> tuple[list[dict[str, Any]], Any]:
    local = start_functions(template, None, {"POWERTOOLS_LOG_LEVEL": "WARNING"})
    functions, tables = local.functions, local.tables
    warnings.filterwarnings("ignore", "No application metrics to publish")
    from notify_bindings import dependencies
    from notify_bindings.dal.accounts import AccountStore
    from notify_bindings.domain.services import Service
    from notify_bindings.platform.sids import time_ordered_sid

    account, _ = AccountStore(dependencies.dynamodb(), tables["AccountsTable"]).create_account(
        "bench"
    )
    now = dependencies.now()
    service = Service(time_ordered_sid("IS", now), account.sid, now, now, binding_ttl_days=30)
    dependencies.service_store().create(service)
    population = expiring(Population.generate(account.sid, service.sid, size, SEED), share)
    live = [b for b in population.bindings if not b.expired_at(now.timestamp())]
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for table, item in population.items(0, size):
        if table in tables:
            by_table[tables[table]].append(item)
    for table, table_items in by_table.items():
        moto_at_scale.store(table, table_items)
    lister = Lister(
        template,
        functions,
        dependencies.dynamodb(),
        dynamodb_client(None),
        tables,
        account.sid,
        service.sid,
    )
    rows = []
    print(f"{size:,} bindings, {size - len(live):,} of them expired and not deleted")
    with moto_at_scale.frozen(), quietly():
        for case in cases(population, size):
            pages = lister.ours(case)
            check_pages(case.label, pages, case.pages, expected_sids(live, case.filters()))
            rows.append(_row(case, [read for _, read in pages], size))
            print(f"  {rows[-1]['target']}: {rows[-1]['figure']}", file=sys.__stdout__)
    return rows, {"expired": size - len(live)}


def expiring(population: Population, share: float) -> Population:
    """The population, each binding given an expiry: `share` of them an hour ago."""
    rng = random.Random(SEED)
    now = int(time.time())
    bindings = [
        replace(b, expires_at=now - 3600 if rng.random() < share else now + 30 * 86_400)
        for b in population.bindings
    ]
    return replace(population, bindings=bindings)


def _row(case: Case, pages: list[PageRead], size: int) -> dict[str, Any]:
    returned = sum(page.returned for page in pages)
    read = sum(page.items_read for page in pages)
    per = f"{read / returned:.2f}" if returned else "-"
    targeted = case.kind not in UNTARGETED
    return {
        "target": f"list at {size:,} with 10% expired, {case.kind}: {case.label}",
        "figure": (
            f"{per} items read per binding returned ({read} items for {returned} bindings over "
            f"{len(pages)} page(s); round trips per page {[p.round_trips for p in pages]})"
        ),
        "limit": f"<= {READS_PER_BINDING} items read per binding returned, every page"
        if targeted
        else "no target (reported)",
        "met": not targeted or all(page.within_target for page in pages),
    }


def report(rows: list[dict[str, Any]], detail: dict[str, Any], size: int, share: float) -> None:
    notes = [
        f"One Service of {size:,} bindings ({detail['expired']:,} expired an hour before, "
        f"{share:.0%} drawn at random; nothing of them deleted), from listing_scale's seeded "
        "generator; pages of 50, followed as listing_scale follows them; each page checked "
        "against the generator's model of the live bindings.",
        "Items read: each Query's ScannedCount plus the items each BatchGetItem returned. A "
        "list reads at most 1,000 expired (or erased) items beyond a page, then ends the page "
        "short with a next_page_url.",
        f"Whole bench {detail['bench_seconds']:.1f} s.",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"title": TITLE, "rows": rows, "notes": notes}, indent=2) + "\n")
    print(f"\n{TITLE}")
    for row in rows:
        print(f"  {'met' if row['met'] else 'NOT MET':<8} {row['target']}: {row['figure']}")
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
