"""notify-migrate end to end, between two local APIs (`python -m local_api`, as `make run`
serves it, each with its own embedded DynamoDB), run as a user runs it: scripts/notify-migrate
in a process of its own, with credentials in its environment.

A source Service holds 1,200 bindings - more than a page of the export's 1,000 - (identities
with several bindings, one at the limit of 20, tags, every binding type, credentials, protocol
versions, non-ASCII identities), written
straight into its tables as the store's transactions write them: through the API they would
take minutes more, and what is tested here is the CLI. They are exported, a few bad lines are
added, and the file is imported into a Service of the other API; the import is interrupted
(SIGINT) part way and run again. The target then holds exactly the source's bindings, field
by field but for SIDs and dates; the second run found what the first had written unchanged
and created only the rest; the bad lines were rejected with their reasons. The bindings name
Twilio's Credentials, as an export from Twilio does: the one given `--credential-map` is
rewritten to the target's Credential, the others are dropped, and counted. A smaller Service,
its bindings created through the official client, is migrated straight from one API to the
other, killed (SIGKILL) part way and run again, each of its Credentials mapped to the target's.

NOTIFY_MIGRATE_BINDINGS=N moves N bindings instead: `make test-scale` moves 10,000. The import
creates each binding through the target's local API (about 40 a second, on one core): 10,000
take about four minutes.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from twilio.base.exceptions import TwilioException

from bench import listing_scale
from local_api.runtime import dynamodb_client
from tests.e2e.support import (
    PROJECT_ROOT,
    Credentials,
    LocalApi,
    clean_environment,
    client_for,
    running_local_api,
)
from tests.migrate.summary import MIGRATION

MIGRATE_CLI = PROJECT_ROOT / "scripts" / "notify-migrate"
SCALE = int(os.environ.get("NOTIFY_MIGRATE_BINDINGS", "1200"))
INTERRUPT_AFTER = SCALE * 2 // 5  # records the first import has done when it is interrupted
MIGRATED = 200
KILL_AFTER = 60
POPULATE_WORKERS = 4
WRITERS = 3  # BatchWriteItem callers that fill the source
DEFAULT_PROTOCOL_VERSION = "3"  # of push bindings created without one
HEAVY_IDENTITY = "heavy-user"  # has the most bindings an identity may have: 20
CLI_SECONDS = 900
# What a listing compares: every field of a Binding that a create sets.
COMPARED = ("identity", "binding_type", "tags", "credential_sid", "notification_protocol_version")
TAGS = ("news", "vip", "beta", "eu", "us")
# The Credentials a Twilio export names, by binding type: SIDs of Twilio's account, which no
# API here holds (so they are written straight into the source's tables).
TWILIO_CREDENTIALS = {"apn": "CR" + "a0" * 16, "fcm": "CR" + "f0" * 16, "gcm": "CR" + "90" * 16}
# The bar's count: "4012/10005 [" with a total, "57 bindings [" without.
PROGRESS = re.compile(r"(\d+)(?:/\d+| bindings) \[")

T = TypeVar("T")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Api:
    """A local API, its official client, and the environment the CLI takes credentials from."""

    api: LocalApi
    client: Any

    @property
    def url(self) -> str:
        return self.api.url

    def cli_environment(self, prefix: str = "NOTIFY_") -> dict[str, str]:
        account = self.api.account
        return {f"{prefix}ACCOUNT_SID": account.username, f"{prefix}AUTH_TOKEN": account.password}

    def new_service(self, name: str) -> str:
        return str(self.client.notify.v1.services.create(friendly_name=name).sid)


@pytest.fixture(scope="module")
def apis() -> Iterator[tuple[Api, Api]]:
    """Two local APIs, started and stopped side by side: one that has held thousands of
    bindings takes seconds to exit (its interpreter frees what the embedded DynamoDB kept)."""
    # No TTL sweeps: none of these Services expires bindings, and each sweep scans the tables.
    servers = [running_local_api(TTL_SWEEP_SECONDS="3600") for _ in range(2)]
    with ThreadPoolExecutor(len(servers)) as pool:
        starting = [pool.submit(server.__enter__) for server in servers]
    started = [s for s, future in zip(servers, starting, strict=True) if not future.exception()]
    try:
        source, target = (future.result() for future in starting)
        yield (
            Api(source, client_for(source.url, source.account)),
            Api(target, client_for(target.url, target.account)),
        )
    finally:
        with ThreadPoolExecutor(len(servers)) as pool:
            for server in started:
                pool.submit(server.__exit__, None, None, None)


@pytest.fixture(scope="module")
def source(apis: tuple[Api, Api]) -> Api:
    return apis[0]


@pytest.fixture(scope="module")
def target(apis: tuple[Api, Api]) -> Api:
    return apis[1]


def population(
    count: int, credentials: dict[str, str] = TWILIO_CREDENTIALS
) -> list[dict[str, Any]]:
    """`count` bindings to create, the same every time: a realistic mix. A quarter of the apn
    and fcm bindings, and every gcm one, name the Credential `credentials` gives their type."""
    kinds = ["apn"] * 8 + ["fcm"] * 7 + ["sms"] * 3 + ["gcm", "facebook-messenger"]
    identities = max(1, count // 3)
    heavy_every = max(1, count // 20)
    bindings = []
    for n in range(count):
        kind = "alexa" if n % 100 == 99 else kinds[n % len(kinds)]
        if n % heavy_every == 0 and n // heavy_every < 20:
            identity = HEAVY_IDENTITY
        elif n % 50 == 1:
            identity = f"józef-{n}"  # UTF-8 all the way
        else:  # about three bindings an identity, spread over the listing
            identity = f"user-{(n * 7919) % identities:05d}"
        if kind in ("sms", "facebook-messenger"):
            address = f"+1{2_000_000_000 + n}"
        else:
            address = f"{kind}-{n:06d}-{n * 2654435761 % 2**32:08x}"
        if n % 10 < 3:
            tags = []
        elif n % 10 < 8:
            tags = [TAGS[n % 5]]
        else:
            tags = list(TAGS[n % 3 : n % 3 + 2])
        binding: dict[str, Any] = {
            "identity": identity,
            "binding_type": kind,
            "address": address,
            "tag": tags,
        }
        if kind in credentials and (n % 4 == 0 or kind == "gcm"):
            binding["credential_sid"] = credentials[kind]
        if kind == "apn" and n % 9 == 0:
            binding["notification_protocol_version"] = "4"
        bindings.append(binding)
    return bindings


def new_credentials(api: Api, kinds: tuple[str, ...]) -> dict[str, str]:
    """A Credential of the API's account for each kind, through the official client: by kind,
    its SID."""
    from tests.providers.material import credential_form

    made = {}
    for kind in kinds:
        form = credential_form(kind)
        created = api.client.notify.v1.credentials.create(
            type=form["Type"],
            certificate=form.get("Certificate"),
            private_key=form.get("PrivateKey"),
            secret=form.get("Secret"),
        )
        made[kind] = str(created.sid)
    return made


def with_credentials(
    bindings: dict[str, dict[str, Any]], mapped: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The bindings as the target is to hold them: each Credential the map gives rewritten,
    any other dropped."""
    return {
        address: binding
        | {"credential_sid": binding["credential_sid"] and mapped.get(binding["credential_sid"])}
        for address, binding in bindings.items()
    }


def retried(call: Callable[[], T], attempts: int = 6) -> T:
    """The call, tried again when the busy local API answers 429 or 503 (as the CLI does)."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TwilioException as error:
            status = getattr(error, "status", None)
            transient = status in (429, 503) or "Unable to fetch page" in str(error)
            if attempt == attempts or not transient:
                raise
            time.sleep(attempt)
    raise AssertionError("unreachable")


def populate(api: Api, service_sid: str, bindings: list[dict[str, Any]]) -> float:
    """Create the bindings through the official client, on a few threads; the seconds taken."""
    local = threading.local()

    def create(binding: dict[str, Any]) -> None:
        if not hasattr(local, "client"):
            local.client = client_for(api.url, api.api.account)
        service = local.client.notify.v1.services(service_sid)
        retried(lambda: service.bindings.create(**binding))

    started = time.monotonic()
    with ThreadPoolExecutor(POPULATE_WORKERS) as pool:
        list(pool.map(create, bindings))
    return time.monotonic() - started


def write_straight_in(api: Api, service_sid: str, wanted: list[dict[str, Any]]) -> float:
    """Put the bindings straight into the API's tables, as the store's transactions would
    have written them (bench.listing_scale's items, which tests/bench hold to the store's own
    writes), 25 items a BatchWriteItem from WRITERS threads; the seconds taken. The time order
    of their SIDs and dates is the order of `wanted`. The API's stream reads them as it reads
    any write."""
    from notify_bindings.domain.bindings import Binding, BindingType
    from notify_bindings.platform.sids import new_binding_sid

    account_sid = api.api.account.username
    first_created = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=len(wanted))
    bindings = []
    for n, binding in enumerate(wanted):
        kind = BindingType(binding["binding_type"])
        created = first_created + timedelta(milliseconds=n)
        bindings.append(
            Binding(
                sid=new_binding_sid(created),
                account_sid=account_sid,
                service_sid=service_sid,
                identity=binding["identity"],
                binding_type=kind,
                address=binding["address"],
                tags=tuple(binding["tag"]),
                credential_sid=binding.get("credential_sid") if kind.takes_credential else None,
                notification_protocol_version=(
                    binding.get("notification_protocol_version", DEFAULT_PROTOCOL_VERSION)
                    if kind.is_push
                    else None
                ),
                date_created=created,
            )
        )
    items = listing_scale.Population.of(bindings).items(0, len(bindings))
    ours = [(table, item) for table, item in items if table != listing_scale.NAIVE_TABLE]
    tables = {table: table for table, _ in ours}  # the local API names tables by logical id
    client = dynamodb_client(api.api.dynamodb_url)
    # Each item once, in any order: a few writers keep the server busy while one prepares.
    shares = [ours[writer::WRITERS] for writer in range(WRITERS)]
    started = time.monotonic()
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(lambda share: listing_scale.write(client, tables, share), shares))
    return time.monotonic() - started


def listing(api: Api, service_sid: str) -> dict[str, dict[str, Any]]:
    """Every binding of the Service by address, through the official client, page by page."""
    bindings = api.client.notify.v1.services(service_sid).bindings
    page = retried(lambda: bindings.page(page_size=250))
    found: dict[str, dict[str, Any]] = {}
    while page is not None:
        for binding in page:
            assert binding.address not in found, "an address listed twice"
            found[binding.address] = comparable(
                {name: getattr(binding, name) for name in (*COMPARED, "endpoint")}
            )
        current = page
        page = retried(current.next_page)
    return found


def comparable(binding: dict[str, Any]) -> dict[str, Any]:
    return {name: sorted(value) if name == "tags" else value for name, value in binding.items()}


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def cli(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MIGRATE_CLI), *arguments],
        env=clean_environment(**environment),
        capture_output=True,
        text=True,
        timeout=CLI_SECONDS,
        check=False,
    )


@dataclass
class Interrupted:
    returncode: int
    stdout: str
    done_when_stopped: int


def run_until(
    arguments: list[str], environment: dict[str, str], done: int, stop: signal.Signals, out: Path
) -> Interrupted:
    """Run the CLI with its progress bar, and send it `stop` once the bar shows `done` records
    done. The bar is read as it is now, not line by line: a reader that falls behind a busy
    machine would otherwise act on what the bar said seconds ago, perhaps after the end."""
    with out.open("w") as stdout:
        process = subprocess.Popen(
            [str(MIGRATE_CLI), *arguments, "--progress"],
            env=clean_environment(**environment),
            stdout=stdout,
            stderr=subprocess.PIPE,
            # As from a terminal: a shell without job control starts a background job with
            # SIGINT ignored, and Python keeps an ignored SIGINT ignored.
            preexec_fn=_interruptible,
        )
        seen = 0
        assert process.stderr is not None
        descriptor = process.stderr.fileno()
        try:
            while chunk := os.read(descriptor, 1 << 20):
                while more := _available(descriptor):  # whatever else is already written
                    chunk += more
                seen = max(seen, _last_progress(chunk.decode("utf-8", "replace")))
                if seen >= done:
                    process.send_signal(stop)
                    break
            while os.read(descriptor, 1 << 20):
                pass
            returncode = process.wait(timeout=CLI_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert seen >= done, f"it ended before {done} records were done: {returncode}"
    return Interrupted(returncode, out.read_text(), seen)


def _interruptible() -> None:
    """In the child, before exec: SIGINT as a terminal leaves it, whatever the test run had."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _available(descriptor: int) -> bytes:
    """What the pipe holds now, without waiting for more."""
    readable, _, _ = select.select([descriptor], [], [], 0)
    return os.read(descriptor, 1 << 20) if readable else b""


def _last_progress(text: str) -> int:
    """The records done, as the last redraw of an import's or a migration's bar shows them."""
    for line in reversed(re.split(r"[\r\n]", text)):
        matched = PROGRESS.search(line)
        if matched and line.lstrip().startswith(("import", "migrate")):
            return int(matched[1])
    return 0


def with_bad_lines(path: Path, lines: dict[int, str]) -> dict[int, str]:
    """Insert `lines` so that each ends up at its line number; returns them by line number."""
    records = path.read_text(encoding="utf-8").splitlines()
    for number in sorted(lines):
        records.insert(number - 1, lines[number])
    path.write_text("\n".join(records) + "\n", encoding="utf-8")
    return lines


def test_given_many_bindings_when_an_import_is_interrupted_and_run_again_then_the_target_is_the_source(  # noqa: E501
    source: Api, target: Api, tmp_path: Path
):
    # Given a Service of 10,000 bindings, exported
    source_sid = source.new_service("migration source")
    wanted = population(SCALE)
    populated = write_straight_in(source, source_sid, wanted)
    exported_file = tmp_path / "bindings.jsonl"
    started = time.monotonic()
    exported = cli(
        "export", "--url", source.url, "--service", source_sid, "-o", str(exported_file),
        environment=source.cli_environment(),
    )  # fmt: skip
    export_seconds = time.monotonic() - started
    assert exported.returncode == 0, exported.stderr
    records = read_records(exported_file)
    assert len(records) == SCALE
    assert {r["address"]: comparable({k: r[k] for k in COMPARED}) for r in records} == {
        w["address"]: comparable(
            {
                "identity": w["identity"],
                "binding_type": w["binding_type"],
                "tags": w["tag"],
                "credential_sid": w.get("credential_sid"),
                "notification_protocol_version": w.get("notification_protocol_version")
                or (
                    DEFAULT_PROTOCOL_VERSION
                    if w["binding_type"] not in ("sms", "facebook-messenger")
                    else None
                ),
            }
        )
        for w in wanted
    }
    # ... with bad lines among them
    heavy_21st = {"identity": HEAVY_IDENTITY, "binding_type": "fcm", "address": "fcm-the-21st"}
    malformed, untyped, unknown_type, bad_number, reserved, invisible = (
        SCALE * n // 100 for n in (1, 20, 50, 70, 80, 90)
    )
    last = SCALE + 5
    bad = with_bad_lines(
        exported_file,
        {
            malformed: "this is not JSON",
            untyped: json.dumps({"identity": "someone", "address": "apn-no-type"}),
            unknown_type: json.dumps({"identity": "x", "binding_type": "pigeon", "address": "c"}),
            bad_number: json.dumps({"identity": "y", "binding_type": "sms", "address": "5551234"}),
            # Twilio stored explicit tags named like the implicit ones; this API refuses them
            reserved: json.dumps(
                {"identity": "z", "binding_type": "apn", "address": "apn-z", "tags": ["sms"]}
            ),
            invisible: json.dumps({"identity": "z\u200b", "binding_type": "apn", "address": "a"}),
            last: json.dumps(heavy_21st),
        },
    )
    target_sid = target.new_service("migration target")
    # ... and the target's own apn Credential, for Twilio's: Twilio's fcm and gcm ones unmapped
    ours = new_credentials(target, ("apn",))["apn"]
    mapped = {TWILIO_CREDENTIALS["apn"]: ours}
    importing = ["import", str(exported_file), "--url", target.url, "--service", target_sid]
    importing += ["--json", "--rejects", str(tmp_path / "rejects.jsonl")]
    importing += ["--credential-map", f"{TWILIO_CREDENTIALS['apn']}={ours}"]

    # When the import is interrupted part way
    started = time.monotonic()
    first = run_until(
        importing, target.cli_environment(), INTERRUPT_AFTER, signal.SIGINT, tmp_path / "1.json"
    )
    first_seconds = time.monotonic() - started
    # ... and run again
    started = time.monotonic()
    second = cli(*importing, environment=target.cli_environment())
    second_seconds = time.monotonic() - started

    # Then the first stopped cleanly, saying what it had done
    assert first.returncode == 128 + signal.SIGINT, first.stdout
    stopped = json.loads(first.stdout)
    assert stopped["interrupted"] == "SIGINT"
    assert first.done_when_stopped <= stopped["processed"] < SCALE + len(bad)
    assert stopped["replaced"] == stopped["unchanged"] == 0
    assert stopped["created"] + stopped["rejected"] == stopped["processed"]
    # ... the second found what the first created unchanged, and created the rest, once
    assert second.returncode == 1, second.stderr  # done, with rejections
    summary = json.loads(second.stdout)
    assert summary["total"] == summary["processed"] == SCALE + len(bad)
    assert summary["unchanged"] == stopped["created"]
    assert summary["created"] == SCALE - stopped["created"]
    assert summary["replaced"] == 0
    # ... rejected the bad lines, each with its reason
    assert summary["rejected"] == len(bad)
    rejects = {r["line"]: r["reason"] for r in read_records(tmp_path / "rejects.jsonl")}
    assert sorted(rejects) == sorted(bad)
    assert rejects[malformed] == "malformed JSON"
    assert rejects[untyped] == "missing field 'binding_type'"
    assert rejects[unknown_type].startswith("unknown binding_type")
    assert rejects[bad_number].startswith("Parameter 'Address' is invalid")  # the target's words
    assert rejects[reserved].startswith("Parameter 'Tag' is invalid: 'sms' is reserved")
    assert rejects[invisible].startswith("Parameter 'Identity' is invalid: must not contain")
    assert "maximum of 20" in rejects[last]  # the identity's 21st
    assert set(summary["rejected_reasons"]) == set(rejects.values())
    # ... counted the references to Twilio's Credentials it dropped, and those it mapped
    naming = Counter(w["credential_sid"] for w in wanted if w.get("credential_sid"))
    assert summary["dropped_credentials"] == {
        TWILIO_CREDENTIALS[kind]: naming[TWILIO_CREDENTIALS[kind]] for kind in ("fcm", "gcm")
    }
    assert min(summary["dropped_credentials"].values()) > 0
    assert summary["credential_references_dropped"] == sum(summary["dropped_credentials"].values())
    assert summary["credential_references_mapped"] == naming[TWILIO_CREDENTIALS["apn"]] > 0
    # ... and the target holds the source's bindings, field by field, and nothing else
    started = time.monotonic()
    held = listing(target, target_sid)
    compare_seconds = time.monotonic() - started
    assert held == with_credentials(
        {r["address"]: comparable({k: r[k] for k in (*COMPARED, "endpoint")}) for r in records},
        mapped,
    )
    MIGRATION.add(
        f"{SCALE} bindings written straight into the source's tables in {populated:.0f} s; "
        f"exported in {export_seconds:.1f} s"
    )
    MIGRATION.add(
        f"import interrupted after {stopped['processed']} records ({first_seconds:.0f} s); run "
        f"again: {summary['unchanged']} unchanged, {summary['created']} created, "
        f"{summary['rejected']} rejected in {second_seconds:.0f} s "
        f"({summary['created'] / second_seconds:.0f} creates/s); target listed in "
        f"{compare_seconds:.0f} s"
    )


def test_given_a_service_when_migrated_straight_across_and_killed_part_way_then_a_run_again_completes_it(  # noqa: E501
    source: Api, target: Api, tmp_path: Path
):
    # Given a Service in one API, its bindings naming its account's Credentials
    kinds = ("apn", "fcm", "gcm")
    theirs, ours = new_credentials(source, kinds), new_credentials(target, kinds)
    source_sid = source.new_service("migrate from")
    populate(source, source_sid, population(MIGRATED, theirs))
    # ... and an empty one in the other, its account holding a Credential for each of them
    target_sid = target.new_service("migrate to")
    environment = source.cli_environment("NOTIFY_SOURCE_") | target.cli_environment(
        "NOTIFY_TARGET_"
    )
    migrating = ["migrate", "--source-url", source.url, "--source-service", source_sid]
    migrating += ["--target-url", target.url, "--target-service", target_sid, "--workers", "4"]
    mapped = {theirs[kind]: ours[kind] for kind in kinds}
    for pair in mapped.items():
        migrating += ["--credential-map", "=".join(pair)]

    # When a migration is killed part way, and run again
    killed = run_until(migrating, environment, KILL_AFTER, signal.SIGKILL, tmp_path / "k.txt")
    started = time.monotonic()
    again = cli(*migrating, "--json", environment=environment)
    seconds = time.monotonic() - started

    # Then what the first wrote is found unchanged and only the rest is created
    assert killed.returncode == -signal.SIGKILL
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["processed"] == MIGRATED
    assert summary["unchanged"] >= killed.done_when_stopped
    assert summary["created"] == MIGRATED - summary["unchanged"]
    assert summary["replaced"] == summary["rejected"] == 0
    assert summary["credential_references_dropped"] == 0
    assert summary["credential_references_mapped"] > 0
    # ... and the target holds the source's bindings, field by field, with its own Credentials
    assert listing(target, target_sid) == with_credentials(listing(source, source_sid), mapped)
    MIGRATION.add(
        f"migrate of {MIGRATED} killed after {killed.done_when_stopped}; run again: "
        f"{summary['unchanged']} unchanged, {summary['created']} created in {seconds:.1f} s"
    )


def test_given_credentials_the_target_refuses_when_migrating_then_it_fails_with_3(
    source: Api, target: Api
):
    source_sid = source.new_service("refused")
    wrong = Credentials(target.api.account.username, "0" * 32, target.api.account.username)
    environment = source.cli_environment("NOTIFY_SOURCE_") | {
        "NOTIFY_TARGET_ACCOUNT_SID": wrong.username,
        "NOTIFY_TARGET_AUTH_TOKEN": wrong.password,
    }

    failed = cli(
        "migrate", "--source-url", source.url, "--source-service", source_sid,
        "--target-url", target.url, "--target-service", source_sid,
        environment=environment,
    )  # fmt: skip

    assert failed.returncode == 3
    assert "the credentials were refused (401" in failed.stderr
