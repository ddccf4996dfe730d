"""`make audit`'s dependency audit: pip-audit over the hashed requirements files, against PyPI's
vulnerability data, failing on any known vulnerability that is not accepted below.

pip-audit asks PyPI about each pinned release (/pypi/<name>/<version>/json). Where the index
answers only for projects (/pypi/<name>/json - a mirror, say), pip-audit skips every package;
this then reads the project's data instead, which describes its latest release: for a pin on the
latest release that is exactly the pin's vulnerabilities, and any other pin is reported as not
audited. `--strict` fails on those too (use it where PyPI answers for releases).

Usage: python scripts/audit_dependencies.py [--strict] REQUIREMENTS.txt...
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from packaging.utils import canonicalize_name
from packaging.version import Version

PROJECT_URL = "https://pypi.org/pypi/{name}/json"
TIMEOUT_SECONDS = 30
# Vulnerabilities accepted after triage: id (or any alias of it) -> why it does not apply.
ACCEPTED: dict[str, str] = {
    "CVE-2024-23342": (
        "ecdsa's timing side channel when signing (Minerva; no fix planned): checkov, in the"
        " tools' virtualenv only, uses ecdsa to verify signatures, which it does not affect"
    ),
}


@dataclass(frozen=True)
class Finding:
    name: str
    version: str
    vulnerability: str
    fixed_in: str
    source: str


def run_pip_audit(requirement_files: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [
            str(Path(sys.executable).with_name("pip-audit")),
            "--vulnerability-service",
            "pypi",
            "--disable-pip",  # the files pin every package with hashes: nothing to resolve
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report),
            *[argument for path in requirement_files for argument in ("--requirement", path)],
        ]
        for accepted in ACCEPTED:
            command += ["--ignore-vuln", accepted]
        # This virtualenv's own pip-audit, with arguments of this script.
        completed = subprocess.run(command, check=False, capture_output=True, text=True)  # noqa: S603
        if not report.exists():
            sys.exit(f"audit: pip-audit failed ({completed.returncode}):\n{completed.stderr}")
        result: dict[str, Any] = json.loads(report.read_text())
        return result


def latest_release_vulnerabilities(
    session: requests.Session, name: str, version: str
) -> list[Finding] | str:
    """The pin's vulnerabilities when it is the project's latest release, else why not known."""
    response = session.get(PROJECT_URL.format(name=name), timeout=TIMEOUT_SECONDS)
    if response.status_code != 200:
        return f"the index has no data on {name} ({response.status_code})"
    project = response.json()
    latest = project.get("info", {}).get("version")
    if latest is None or Version(latest) != Version(version):
        return f"pinned {version}; the index describes only its latest release, {latest}"
    return [
        Finding(name, version, entry["id"], ", ".join(entry.get("fixed_in") or []), "project")
        for entry in project.get("vulnerabilities") or []
        if not entry.get("withdrawn")
        and entry["id"] not in ACCEPTED
        and not set(entry.get("aliases") or []) & set(ACCEPTED)
    ]


def pinned_versions(requirement_files: list[str]) -> dict[str, str]:
    """name -> version of every `name==version` line of the files."""
    pins = {}
    for path in requirement_files:
        for line in Path(path).read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", line)
            if match:
                pins[canonicalize_name(match[1])] = match[3]
    return pins


def audit_each_file(requirement_files: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(name, version) -> pip-audit's verdict, for every distinct pin of the files. pip-audit
    runs once per file: each file is an environment of its own (the tools' virtualenv pins other
    releases than the tests' do), and pip-audit refuses a package pinned twice."""
    verdicts: dict[tuple[str, str], dict[str, Any]] = {}
    for path in requirement_files:
        pins = pinned_versions([path])
        for dependency in run_pip_audit([path])["dependencies"]:
            name = canonicalize_name(dependency["name"])
            version = dependency.get("version") or pins[name]  # skipped ones come without it
            verdicts.setdefault((name, version), dependency)
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requirements", nargs="+")
    parser.add_argument("--strict", action="store_true", help="fail on what was not audited")
    args = parser.parse_args()

    verdicts = audit_each_file(args.requirements)
    findings: list[Finding] = []
    audited, not_audited = 0, {}
    session = requests.Session()
    for (name, version), dependency in verdicts.items():
        if "skip_reason" not in dependency:
            audited += 1
            findings += [
                Finding(name, version, v["id"], ", ".join(v.get("fix_versions", [])), "release")
                for v in dependency.get("vulns", [])
            ]
            continue
        known = latest_release_vulnerabilities(session, name, version)
        if isinstance(known, str):
            not_audited[f"{name} {version}"] = known
        else:
            audited += 1
            findings += known

    total = len(verdicts)
    print(f"audit: {audited} of {total} pinned packages audited against PyPI's data")
    for name, reason in sorted(not_audited.items()):
        print(f"audit: NOT AUDITED {name}: {reason}")
    for accepted, reason in ACCEPTED.items():
        print(f"audit: accepted {accepted}: {reason}")
    for finding in findings:
        print(
            f"audit: VULNERABLE {finding.name} {finding.version}: {finding.vulnerability}"
            f" (fixed in {finding.fixed_in or 'no release yet'})"
        )
    if findings:
        return 1
    if not_audited and args.strict:
        print("audit: --strict: every package must be audited", file=sys.stderr)
        return 1
    print("audit: no known vulnerability in what was audited")
    return 0


if __name__ == "__main__":
    sys.exit(main())
