"""`make audit`'s security scan of template.yaml: checkov, offline, failing on any finding.

Every finding is decided in the template, next to its resource: fixed, or skipped with checkov's
`Metadata: checkov: skip:` entry whose `comment` says why. This fails when checkov reports a
failed check, a skip without a reason, a template it could not parse or no check at all - and
when anything tries to reach a host other than this machine.

Checkov reaches out unless told not to: at import it asks PyPI for a newer release of itself
(CKV_SKIP_PACKAGE_UPDATE_CHECK stops that), at start Prisma Cloud for policy metadata
(--skip-download), and with an API key in the environment it uploads its results (no such
variable is passed on). Its settings from the environment and from a .checkov.yaml in the home
directory are not passed on either, so that the scan is the same on every machine. Whatever a
later release adds, a guard refuses every name lookup and connection that is not loopback
before anything is sent, and the scan fails.

Usage: python scripts/scan_template.py TEMPLATE (with the tools' virtualenv's python)
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# What checkov and its platform integration read from the environment.
CHECKOV_VARIABLE_PREFIXES = ("CKV_", "CHECKOV_", "BC_", "PRISMA_")
OFFLINE_ENVIRONMENT = {
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",  # no request to PyPI for a newer checkov
    "BC_SKIP_MAPPING": "TRUE",  # no request to Prisma Cloud for its policy metadata
}
OFFLINE_ARGUMENTS = ("--skip-download",)  # the same, as checkov's own flag
NO_FINDING_COMMENT = "No comment provided"  # what checkov records for a skip without one


def scan_arguments(template: str) -> list[str]:
    return [
        "--file",
        template,
        "--framework",
        "cloudformation",
        *OFFLINE_ARGUMENTS,
        "--compact",
        "--quiet",  # the failed checks only; the summary below counts the rest
    ]


def offline_environment(environment: Mapping[str, str], home: str) -> dict[str, str]:
    """`environment` without checkov's settings and with the ones that keep it offline, and
    `home` as the home directory (where checkov would read a .checkov.yaml)."""
    kept = {
        name: value
        for name, value in environment.items()
        if not name.startswith(CHECKOV_VARIABLE_PREFIXES)
    }
    return kept | OFFLINE_ENVIRONMENT | {"HOME": home}


def is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class LoopbackOnly:
    """While installed, every name lookup (socket.getaddrinfo) and connection (socket.connect,
    connect_ex) to anything but loopback raises OSError before any packet leaves, and is
    recorded in `refused`."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def _refuse(self, host: Any, port: Any) -> None:
        self.refused.append(f"{host}:{port}")
        raise OSError(f"scan_template: no connection to {host}:{port} (loopback only)")

    @contextmanager
    def installed(self) -> Iterator[LoopbackOnly]:
        getaddrinfo = socket.getaddrinfo
        connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

        def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host is not None and not is_loopback(host):
                self._refuse(host, port)
            return getaddrinfo(host, port, *args, **kwargs)

        def guard(original: Callable[..., Any]) -> Callable[..., Any]:
            def guarded(sock: socket.socket, address: Any) -> Any:
                inet = sock.family in (socket.AF_INET, socket.AF_INET6)
                if inet and not is_loopback(address[0]):
                    self._refuse(address[0], address[1])
                return original(sock, address)

            return guarded

        socket.getaddrinfo = guarded_getaddrinfo
        socket.socket.connect = guard(connect)  # type: ignore[method-assign]
        socket.socket.connect_ex = guard(connect_ex)  # type: ignore[method-assign]
        try:
            yield self
        finally:
            socket.getaddrinfo = getaddrinfo
            socket.socket.connect = connect  # type: ignore[method-assign]
            socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def run_checkov(template: str) -> tuple[int, list[Any]]:
    """checkov's exit code and reports for `template`, run in this process (imported only now:
    importing it is what asks PyPI for a newer release, unless told not to)."""
    from checkov.main import Checkov

    checkov = Checkov(argv=scan_arguments(template))
    exit_code = checkov.run()
    return int(exit_code or 0), list(checkov.scan_reports)


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__.rsplit("\n\n", 1)[-1])
    template = sys.argv[1]
    with tempfile.TemporaryDirectory() as home, LoopbackOnly().installed() as guard:
        environment = offline_environment(os.environ, home)
        os.environ.clear()
        os.environ.update(environment)
        exit_code, reports = run_checkov(template)
    problems = [f"checkov tried to reach {address}" for address in dict.fromkeys(guard.refused)]
    summaries = [report.get_summary() for report in reports]
    passed = sum(summary["passed"] for summary in summaries)
    failed = sum(summary["failed"] for summary in summaries)
    skipped = [record for report in reports for record in report.skipped_checks]
    if failed or exit_code:
        problems.append(f"{failed} failed checks (exit code {exit_code})")
    if any(summary["parsing_errors"] for summary in summaries):
        problems.append(f"checkov could not parse {template}")
    if not passed:
        problems.append(f"checkov ran no check on {template}")
    for record in skipped:
        comment = (record.check_result.get("suppress_comment") or "").strip()
        if not comment or comment == NO_FINDING_COMMENT:
            problems.append(f"{record.check_id} skipped on {record.resource} without a reason")
    print(
        f"scan_template: checkov on {template}: {passed} checks passed, {len(skipped)} skipped"
        f" with their reasons in the template, {failed} failed"
    )
    for problem in problems:
        print(f"scan_template: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
