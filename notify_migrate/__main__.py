"""notify-migrate: move a Service's bindings between Twilio Notify and notify-bindings, or
between two deployments of notify-bindings, over HTTP with the official twilio client.

  export   a Service's bindings to a JSON Lines file (one binding per line)
  import   a JSON Lines file into a Service: idempotent, and resumable by running it again
  migrate  from a Service of one API straight into a Service of another

Import and migrate list the target Service first and write only what differs: a binding
already there as the record has it is left unchanged, one at the record's address is replaced,
the rest are created; records the target refuses are rejected, with its reason. SIDs and dates
cannot be carried over: a create gives its binding a new SID and the date of the create. Nor
can Credentials (no API returns their secrets): a binding's Credential SID is the source
account's, so it is dropped, and counted, unless --credential-map names the target's for it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from notify_cli.output import Output
from notify_migrate.records import CREDENTIAL_SID, CredentialMap, dumps, record_json
from notify_migrate.remote import (
    DEFAULT_PAGE_SIZE,
    MIN_PAGE_SIZE,
    SERVICE_SID,
    TWILIO_URL,
    Credentials,
    MissingCredentials,
    Remote,
    RemoteFailure,
)
from notify_migrate.transfer import (
    Loader,
    Progress,
    RejectsFile,
    Summary,
    file_items,
    smaller_pages,
    source_items,
    survey,
)

PROG = "notify-migrate"
OK, REJECTED, USAGE, FAILED = 0, 1, 2, 3
DEFAULT_WORKERS = 8
MAX_WORKERS = 64
# Environment variable prefixes of the credentials: export and import, then migrate's sides.
CREDENTIALS = "NOTIFY_"
SOURCE_CREDENTIALS = "NOTIFY_SOURCE_"
TARGET_CREDENTIALS = "NOTIFY_TARGET_"

EXIT_CODES = """\
exit status:
  0    done, nothing rejected
  1    done, and some records were rejected (the summary says why; --rejects has them)
  2    usage: a malformed argument, no credentials, an unreadable file
  3    failed: the API refused the credentials, has no such Service, or failed (or could not
       be reached) after retries; what was done is kept: run the same command again
  130  interrupted by Ctrl-C (143: by SIGTERM); what was done is kept: run it again
"""

CREDENTIALS_HELP = """\
credentials (environment variables, never arguments):
  {p}ACCOUNT_SID and {p}AUTH_TOKEN, or
  {p}ACCOUNT_SID, {p}API_KEY_SID and {p}API_KEY_SECRET
"""


class UsageError(Exception):
    """An argument or a file the command cannot use."""


@dataclass
class Run:
    """What a command shares with main: its summary, and the event that stops its threads."""

    summary: Summary
    progress: Progress
    stopping: threading.Event


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Export to stdout: the summary goes to stderr, beside the progress bar.
    data_to_stdout = getattr(args, "output", None) == "-"
    output = Output(
        args.json,
        out=sys.stderr if data_to_stdout else sys.stdout,
        err=sys.stderr,
        ensure_ascii=False,
    )
    run = Run(Summary(args.command_name), Progress(args.progress), threading.Event())
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_signal)
    code = OK
    try:
        args.run(args, run)
    except MissingCredentials as error:
        output.note(f"{PROG}: {error}")
        return USAGE
    except UsageError as error:
        output.note(f"{PROG}: {error}")
        return USAGE
    except RemoteFailure as error:
        run.stopping.set()
        run.summary.failure = str(error)
        code = FAILED
    except KeyboardInterrupt:
        run.stopping.set()
        signum = received[0] if received else signal.SIGINT
        run.summary.interrupted = signal.Signals(signum).name
        code = 128 + signum
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = run.summary
    summary.finish()
    output.result(summary.as_json(), summary.text())
    if summary.failure:
        output.note(f"{PROG}: {summary.failure}")
    if summary.interrupted or summary.failure:
        again = (
            "run the same command again to resume: what was done is found done"
            if summary.exported is None
            else "nothing was written: run the same command again"
        )
        stop = f"interrupted ({summary.interrupted})" if summary.interrupted else "stopped"
        output.note(f"{PROG}: {stop}; {again}")
    elif summary.reasons:
        code = REJECTED
    return code


# -- commands ----------------------------------------------------------------------------


def export(args: argparse.Namespace, run: Run) -> None:
    source = Remote(args.url, args.service, _credentials(CREDENTIALS), run.stopping)
    summary = run.summary
    summary.target, summary.exported = source.describe(), 0
    source.check_service()
    bar = run.progress.bar(f"export {args.service}", args.total)
    try:
        with _output_file(args.output) as stream:
            for binding in source.bindings(args.page_size, smaller_pages):
                stream.write(dumps(record_json(binding)) + "\n")
                summary.exported += 1
                bar.update()
    finally:
        bar.close()


def import_(args: argparse.Namespace, run: Run) -> None:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no file {args.file}")
    credentials = _credential_map(args.credential_map)
    target = Remote(args.url, args.service, _credentials(CREDENTIALS), run.stopping)
    run.summary.target = target.describe()
    with _rejects_file(args.rejects) as rejects:
        target.check_service()
        try:
            total, last_line = survey(path)
        except OSError as error:
            raise UsageError(f"cannot read {args.file}: {error.strerror}") from None
        run.summary.total = total
        loader = _loader(args, run, target, rejects, credentials)
        loader.read_target(args.page_size)
        loader.load(file_items(path, last_line), f"import {args.service}", total)


def migrate(args: argparse.Namespace, run: Run) -> None:
    credentials = _credential_map(args.credential_map)
    source_credentials = _credentials(SOURCE_CREDENTIALS)
    target_credentials = _credentials(TARGET_CREDENTIALS)
    source = Remote(args.source_url, args.source_service, source_credentials, run.stopping)
    target = Remote(args.target_url, args.target_service, target_credentials, run.stopping)
    run.summary.target = target.describe()
    with _rejects_file(args.rejects) as rejects:
        source.check_service()
        target.check_service()
        loader = _loader(args, run, target, rejects, credentials)
        loader.read_target(args.page_size)
        bindings = source.bindings(args.page_size, smaller_pages)
        loader.load(source_items(bindings), f"migrate {args.source_service}", args.total)


def _loader(
    args: argparse.Namespace,
    run: Run,
    target: Remote,
    rejects: RejectsFile | None,
    credentials: CredentialMap,
) -> Loader:
    return Loader(
        target,
        run.summary,
        workers=args.workers,
        progress=run.progress,
        rejects=rejects,
        stopping=run.stopping,
        keep_existing=args.keep_existing,
        credentials=credentials,
    )


def _credential_map(pairs: list[tuple[str, str]]) -> CredentialMap:
    """The --credential-map options' map: a source's Credential mapped to two is a mistake."""
    targets: dict[str, str] = {}
    for source, target in pairs:
        if targets.setdefault(source, target) != target:
            raise UsageError(f"--credential-map gives {source} twice, to different Credentials")
    return CredentialMap(targets)


def _credentials(prefix: str) -> Credentials:
    return Credentials.from_environment(prefix, os.environ)


@contextlib.contextmanager
def _output_file(name: str) -> Iterator[IO[str]]:
    """The file export writes: stdout for '-'; else written beside it under another name and
    renamed when complete, so that an interrupted export leaves no partial file behind."""
    if name == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(name)
    partial = path.with_name(f".{path.name}.partial")
    try:
        stream = partial.open("w", encoding="utf-8", newline="\n")
    except OSError as error:
        raise UsageError(f"cannot write {name}: {error.strerror}") from None
    try:
        with stream:
            yield stream
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _rejects_file(name: str | None) -> Iterator[RejectsFile | None]:
    if name is None:
        yield None
        return
    try:
        stream = Path(name).open("w", encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as error:
        raise UsageError(f"cannot write {name}: {error.strerror}") from None
    with stream:
        yield RejectsFile(stream)


# -- arguments ---------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, Run], None]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="{export,import,migrate}")
    commands.required = True

    exporting = _command(
        commands,
        "export",
        export,
        "write a Service's bindings to a JSON Lines file",
        CREDENTIALS_HELP.format(p=CREDENTIALS),
    )
    _api_options(exporting, "", TWILIO_URL, "the API to read")
    exporting.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="FILE",
        help="the JSON Lines file to write ('-': stdout); written whole or not at all",
    )
    _total_option(exporting)

    importing = _command(
        commands,
        "import",
        import_,
        "load a JSON Lines file into a Service; run it again to resume",
        CREDENTIALS_HELP.format(p=CREDENTIALS),
    )
    importing.add_argument("file", metavar="FILE", help="JSON Lines, as export writes it")
    _api_options(importing, "", None, "the API to write to (a deployment of notify-bindings)")
    _load_options(importing)

    migrating = _command(
        commands,
        "migrate",
        migrate,
        "copy a Service's bindings into a Service of another API; run it again to resume",
        "source "
        + CREDENTIALS_HELP.format(p=SOURCE_CREDENTIALS)
        + "target "
        + CREDENTIALS_HELP.format(p=TARGET_CREDENTIALS),
    )
    _api_options(migrating, "source-", TWILIO_URL, "the API to read")
    _api_options(migrating, "target-", None, "the API to write to")
    _load_options(migrating)
    _total_option(migrating)
    return parser


def _command(commands: Any, name: str, run: Command, summary: str, credentials: str) -> Any:
    parser = commands.add_parser(
        name,
        help=summary,
        description=f"{summary}.\n\n{credentials}",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run, command_name=name)
    parser.add_argument(
        "--page-size",
        type=_bounded(MIN_PAGE_SIZE, DEFAULT_PAGE_SIZE),
        default=DEFAULT_PAGE_SIZE,
        metavar="N",
        help=f"bindings per page when listing ({MIN_PAGE_SIZE}-{DEFAULT_PAGE_SIZE}, default "
        f"{DEFAULT_PAGE_SIZE}; halved by itself when pages fail)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar on stderr (default: when stderr is a terminal)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def _api_options(parser: Any, side: str, default_url: str | None, what: str) -> None:
    url_help = f"{what}: its base URL" + (
        f" (default {default_url}; for a deployment of notify-bindings, its ApiUrl)"
        if default_url
        else ", the stack's ApiUrl or the local API's URL"
    )
    parser.add_argument(
        f"--{side}url",
        required=default_url is None,
        default=default_url,
        metavar="URL",
        type=_base_url,
        help=url_help,
    )
    parser.add_argument(
        f"--{side}service",
        required=True,
        metavar="IS…",
        type=_service_sid,
        help="the Service's SID",
    )


def _load_options(parser: Any) -> None:
    parser.add_argument(
        "--workers",
        type=_bounded(1, MAX_WORKERS),
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"concurrent writes (default {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--rejects",
        metavar="FILE",
        help="write each rejected record, with its line and reason, to this JSON Lines file",
    )
    parser.add_argument(
        "--keep-existing",
        action="store_true",
        help="leave a binding the target holds at a record's address as it is, even if it "
        "differs: for a last run after apps have switched and register there themselves",
    )
    parser.add_argument(
        "--credential-map",
        action="append",
        default=[],
        type=_credential_pair,
        metavar="CR…=CR…",
        help="write bindings that name the source's Credential (left) with the target's (right), "
        "created there beforehand; repeatable. A binding naming a source's Credential that no "
        "--credential-map gives is written without it (the summary counts those)",
    )


def _total_option(parser: Any) -> None:
    parser.add_argument(
        "--total",
        type=_bounded(1, 10**12),
        metavar="N",
        help="how many bindings the source holds, if you know: the bar then shows an ETA "
        "(APIs do not say)",
    )


def _service_sid(value: str) -> str:
    if not SERVICE_SID.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Service SID (IS and 32 lowercase hex digits)"
        )
    return value


def _credential_pair(value: str) -> tuple[str, str]:
    source, _, target = value.partition("=")
    if not (CREDENTIAL_SID.fullmatch(source) and CREDENTIAL_SID.fullmatch(target)):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not SOURCE=TARGET, two Credential SIDs (CR and 32 lowercase hex digits)"
        )
    return source, target


def _base_url(value: str) -> str:
    if not value.startswith(("https://", "http://")) or "?" in value:
        raise argparse.ArgumentTypeError(f"{value!r} is not a base URL (https://host[/stage])")
    return value


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is not between {low} and {high}")
        return number

    return parse


if __name__ == "__main__":
    sys.exit(main())
