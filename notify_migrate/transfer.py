"""Loading records into a target Service: idempotent, resumable, concurrent.

The target's bindings are listed first, into address -> binding. Then each record is:
- unchanged, when the binding at its address is already identical to it: nothing is sent;
- replaced, when another binding holds its address (a create replaces it: the API's contract,
  and Twilio's);
- created, when no binding holds its address;
- rejected, when it is no binding record, or the target refuses it (a 400, with its message:
  an identity's 21st binding, a malformed phone number, ...).
Before any of that, the Credential a record names is rewritten by the credential map, or
dropped (records.CredentialMap): the source's Credentials are not the target's. The summary
counts the references dropped, by the source's SID, and those mapped.
With `keep_existing`, any binding at a record's address is left as it is (unchanged), for a
catch-up run once apps register at the target themselves.

A run that was interrupted, run again, so finds what the first one wrote unchanged and writes
only the rest. Writes run on `workers` threads; two records with the same address, or the same
identity, are written one after the other, in their order, so the outcome is the one of writing
them in order (which of an identity's bindings reach its limit of 20, say).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from notify_migrate.records import CredentialMap, Record, StoredBinding, read_line, record_from
from notify_migrate.remote import Refused, Remote, RemoteFailure, Stopped

EXAMPLES_PER_REASON = 5
SUPERSEDED = "the same address is on a later line, which is imported instead"
DROPPED_CREDENTIALS = (
    "{count} credential references dropped: create the credentials here and set them on the "
    "Service, or give --credential-map SOURCE=TARGET for each ({sids})"
)


class Outcome(StrEnum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Item:
    """A record to load, or what stood in its place and why it is rejected (`reason`).

    `where` names it to people ("line 12", or the source's SID); `original` is what the
    rejects file shows of it: the object read, else the text."""

    where: str
    record: Record | None
    reason: str | None
    original: Any
    line: int | None = None


@dataclass
class Summary:
    """What a command did, as the last thing it prints."""

    command: str
    target: str = ""
    total: int | None = None
    counts: Counter[Outcome] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    exported: int | None = None
    # The source's Credentials that records named and the target was not given: by SID, how
    # many records named each. And how many references the credential map rewrote.
    dropped_credentials: Counter[str] = field(default_factory=Counter)
    mapped_credentials: int = 0
    interrupted: str | None = None
    failure: str | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    @property
    def processed(self) -> int:
        return sum(self.counts.values())

    def finish(self) -> None:
        self.seconds = time.monotonic() - self.started

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"command": self.command, "target": self.target}
        if self.exported is not None:
            data["exported"] = self.exported
        else:
            data["total"] = self.total
            data["processed"] = self.processed
            data |= {outcome.value: self.counts[outcome] for outcome in Outcome}
            data["rejected_reasons"] = dict(self.reasons.most_common())
            data["credential_references_dropped"] = self.dropped_credentials.total()
            data["dropped_credentials"] = dict(sorted(self.dropped_credentials.items()))
            data["credential_references_mapped"] = self.mapped_credentials
        data |= {
            "interrupted": self.interrupted,
            "failure": self.failure,
            "seconds": round(self.seconds, 3),
        }
        return data

    def text(self) -> str:
        rate = f"{self._done / self.seconds:.0f}/s" if self.seconds > 0 else "-"
        timing = f"in {self.seconds:.1f} s ({rate})"
        if self.exported is not None:
            return f"{self.command}: {self.exported} bindings of {self.target} {timing}"
        of_total = f" of {self.total}" if self.total is not None else ""
        counts = ", ".join(f"{self.counts[outcome]} {outcome.value}" for outcome in Outcome)
        lines = [f"{self.command} into {self.target}: {self.processed}{of_total} records: {counts}"]
        lines[0] += f" {timing}"
        if self.mapped_credentials:
            lines.append(f"{self.mapped_credentials} credential references mapped")
        if self.dropped_credentials:
            sids = ", ".join(sorted(self.dropped_credentials))
            count = self.dropped_credentials.total()
            lines.append(DROPPED_CREDENTIALS.format(count=count, sids=sids))
        if self.reasons:
            lines.append("rejected:")
            width = len(str(self.reasons.most_common(1)[0][1]))
            for reason, count in self.reasons.most_common():
                shown = self.examples.get(reason, [])
                more = ", …" if count > len(shown) else ""
                lines.append(f"  {count:>{width}}  {reason} ({', '.join(shown)}{more})")
        return "\n".join(lines)

    @property
    def _done(self) -> int:
        return self.exported if self.exported is not None else self.processed


class Progress:
    """tqdm bars on stderr. `enabled` None: only when stderr is a terminal (tqdm's own test)."""

    def __init__(self, enabled: bool | None) -> None:
        self.disable = None if enabled is None else not enabled

    def bar(self, description: str, total: int | None = None) -> Any:
        return tqdm(
            desc=description,
            total=total,
            unit=" bindings",
            disable=self.disable,
            dynamic_ncols=True,
            mininterval=0.25,
            smoothing=0.05,
        )

    @staticmethod
    def note(text: str) -> None:
        """A line on stderr that does not break a bar."""
        tqdm.write(text, file=sys.stderr)


class RejectsFile:
    """The --rejects JSON Lines: one line per rejected record, written as it is rejected."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, item: Item, reason: str) -> None:
        entry: dict[str, Any] = {"line": item.line} if item.line is not None else {}
        entry |= {"reason": reason, "record": item.original}
        with self._lock:
            self._stream.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._stream.flush()


class Loader:
    """Loads Items into the target's Service (see the module's docstring)."""

    def __init__(
        self,
        target: Remote,
        summary: Summary,
        *,
        workers: int,
        progress: Progress,
        rejects: RejectsFile | None,
        stopping: threading.Event,
        keep_existing: bool = False,
        credentials: CredentialMap | None = None,
    ) -> None:
        self.target = target
        self.keep_existing = keep_existing
        self.credentials = credentials or CredentialMap()
        self.summary = summary
        self.workers = workers
        self.progress = progress
        self.rejects = rejects
        self.stopping = stopping
        self._existing: dict[str, StoredBinding] = {}
        self._lock = threading.Lock()
        self._failure: str | None = None
        self._bar: Any = None

    def read_target(self, page_size: int) -> None:
        """List the target's bindings, by address."""
        bar = self.progress.bar(f"reading {self.target.service_sid}")
        try:
            for binding in self.target.bindings(page_size, smaller_pages):
                self._existing[binding["address"]] = StoredBinding.from_json(binding)
                bar.update()
        finally:
            bar.close()

    def load(self, items: Iterable[Item], description: str, total: int | None = None) -> None:
        """Load every item; raises RemoteFailure when the target fails beyond retries, and
        KeyboardInterrupt when interrupted, once the writes under way have ended."""
        self._bar = self.progress.bar(description, total)
        slots = threading.BoundedSemaphore(2 * self.workers)
        in_flight: dict[tuple[str, str], Future[tuple[Outcome, StoredBinding]]] = {}
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="notify-migrate")
        try:
            for item in items:
                if self._failure is not None or self.stopping.is_set():
                    break
                if item.record is None:
                    self._rejected(item, item.reason or "invalid")
                    continue
                record = self._credential_rewritten(item.record)
                keys = [("address", record.address), ("identity", record.identity)]
                with self._lock:
                    earlier = [in_flight[key] for key in keys if key in in_flight]
                    existing = self._existing.get(record.address)
                if not earlier and self._holds(existing, record):
                    self._count(Outcome.UNCHANGED)  # the common case of a run again: no request
                    continue
                slots.acquire()
                future = pool.submit(self._apply, record, earlier)
                with self._lock:
                    for key in keys:
                        in_flight[key] = future
                future.add_done_callback(partial(self._applied, item, keys, in_flight, slots))
            pool.shutdown(wait=True)
        except BaseException:  # KeyboardInterrupt (Ctrl-C, SIGTERM) above all
            self.stopping.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            self._bar.close()
        if self._failure is not None:
            raise RemoteFailure(self._failure)

    def _credential_rewritten(self, record: Record) -> Record:
        """The record as the target is to hold it: with the target's Credential the map gives
        for the source's, else without it (counted, by the source's SID)."""
        rewritten, dropped = self.credentials.apply(record)
        with self._lock:
            if dropped is not None:
                self.summary.dropped_credentials[dropped] += 1
            elif rewritten.credential_sid not in (None, record.credential_sid):
                self.summary.mapped_credentials += 1
        return rewritten

    def _apply(
        self, record: Record, earlier: list[Future[tuple[Outcome, StoredBinding]]]
    ) -> tuple[Outcome, StoredBinding]:
        """On a worker: after the writes of the same address or identity before it, write the
        record unless the target already holds it as it is."""
        # Those were submitted before this one, so they run or have run: no deadlock.
        futures.wait(earlier)
        if self.stopping.is_set():
            raise Stopped()
        with self._lock:
            existing = self._existing.get(record.address)
        if existing is not None and self._holds(existing, record):
            return Outcome.UNCHANGED, existing
        stored = self.target.create(record)
        with self._lock:
            self._existing[record.address] = stored
        if existing is None:
            return Outcome.CREATED, stored
        # The API answers an identical create with the binding it has, same SID.
        return (Outcome.UNCHANGED if stored.sid == existing.sid else Outcome.REPLACED), stored

    def _holds(self, existing: StoredBinding | None, record: Record) -> bool:
        """Whether the target has what the record asks for: the same binding at its address,
        or, keeping existing bindings, any binding there."""
        return existing is not None and (self.keep_existing or record.same_as(existing))

    def _applied(
        self,
        item: Item,
        keys: list[tuple[str, str]],
        in_flight: dict[tuple[str, str], Future[tuple[Outcome, StoredBinding]]],
        slots: threading.BoundedSemaphore,
        future: Future[tuple[Outcome, StoredBinding]],
    ) -> None:
        """A record's outcome, on the thread that completed (or cancelled) its future."""
        try:
            if future.cancelled():
                return
            error = future.exception()
            if error is None:
                self._count(future.result()[0])
            elif isinstance(error, Refused):
                self._rejected(item, error.message)
            elif isinstance(error, Stopped):
                pass  # not attempted: a run again does it
            else:  # RemoteFailure, or a fault of this program: stop rather than guess
                message = str(error) if isinstance(error, RemoteFailure) else repr(error)
                with self._lock:
                    self._failure = self._failure or message
                self.stopping.set()
        finally:
            with self._lock:
                for key in keys:
                    if in_flight.get(key) is future:
                        del in_flight[key]
            slots.release()

    def _count(self, outcome: Outcome) -> None:
        with self._lock:
            counts = self.summary.counts
            counts[outcome] += 1
            if self._bar is not None:
                self._bar.set_postfix_str(
                    ", ".join(f"{counts[o]} {o.value}" for o in Outcome), refresh=False
                )
                self._bar.update()

    def _rejected(self, item: Item, reason: str) -> None:
        with self._lock:
            self.summary.reasons[reason] += 1
            shown = self.summary.examples.setdefault(reason, [])
            if len(shown) < EXAMPLES_PER_REASON:
                shown.append(item.where)
        if self.rejects is not None:
            self.rejects.write(item, reason)
        self._count(Outcome.REJECTED)


def smaller_pages(page_size: int) -> None:
    """What `Remote.bindings` says when it asks for smaller pages."""
    Progress.note(
        f"notify-migrate: pages failed or took too long: asking for {page_size} at a time"
    )


# -- where records come from -------------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(number, content) of each line that is not blank."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            content = raw.rstrip(b"\r\n")
            if number == 1:
                content = content.removeprefix(b"\xef\xbb\xbf")  # a byte order mark
            if content.strip():
                yield number, content


def survey(path: Path) -> tuple[int, dict[str, int]]:
    """How many records the file has (its non-blank lines), and the last line of each address:
    an address given twice is imported from its last line only, so that a run again finds it
    as that line left it."""
    total, last_line = 0, {}
    for number, content in _lines(path):
        total += 1
        try:
            value = json.loads(content)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("address"), str):
            last_line[value["address"]] = number
    return total, last_line


def file_items(path: Path, last_line: dict[str, int]) -> Iterator[Item]:
    for number, content in _lines(path):
        original, record, reason = read_line(content)
        if record is not None and last_line.get(record.address, number) != number:
            record, reason = None, SUPERSEDED
        yield Item(f"line {number}", record, reason, original, line=number)


def source_items(bindings: Iterable[dict[str, Any]]) -> Iterator[Item]:
    """The items of a source's listing."""
    for binding in bindings:
        where = str(binding.get("sid") or "a binding without sid")
        try:
            yield Item(where, record_from(binding), None, binding)
        except ValueError as error:
            yield Item(where, None, str(error), binding)
