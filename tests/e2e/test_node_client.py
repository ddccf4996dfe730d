"""A second real client: the official twilio Node.js client runs the end-to-end scenario of
tests/node/scenario.mjs against the session's local API.

`make test` installs the client first (`npm ci` in tests/node, exactly as package-lock.json
pins it, whenever the lock file is newer than what is installed); this test refuses to run on
a missing or stale install rather than fetch packages itself."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.e2e.support import PROJECT_ROOT, LocalApi, clean_environment
from tests.providers.material import apns_certificate_form

NODE_PROJECT = PROJECT_ROOT / "tests" / "node"
SCENARIO = NODE_PROJECT / "scenario.mjs"
INSTALLED_LOCK = NODE_PROJECT / "node_modules" / ".package-lock.json"
MINIMUM_NODE_MAJOR = 20  # twilio 6 declares "engines": {"node": ">=20.0.0"}
SCENARIO_SECONDS = 300
SCENARIO_STEPS = 14  # at least: a scenario that stopped short, or ran nothing, fails
_NODE_VERSION = re.compile(r"v(?P<major>\d+)\.\d+\.\d+")


def node_executable() -> str:
    """`node`, checked to be recent enough for the client, or a failure that says what to do."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is not on PATH: the twilio Node.js client's end-to-end test needs Node.js "
            f"{MINIMUM_NODE_MAJOR} or newer and npm (Debian/Ubuntu: apt-get install nodejs npm).",
            pytrace=False,
        )
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    match = _NODE_VERSION.fullmatch(version)
    if match is None or int(match["major"]) < MINIMUM_NODE_MAJOR:
        pytest.fail(
            f"node --version says {version!r}; the twilio Node.js client needs Node.js "
            f"{MINIMUM_NODE_MAJOR} or newer.",
            pytrace=False,
        )
    return node


def require_installed_client() -> None:
    lock = NODE_PROJECT / "package-lock.json"
    if (
        not INSTALLED_LOCK.exists()
        or INSTALLED_LOCK.stat().st_mtime < lock.stat().st_mtime
        or INSTALLED_LOCK.stat().st_mtime < (NODE_PROJECT / "package.json").stat().st_mtime
    ):
        pytest.fail(
            "tests/node/node_modules is missing or older than package-lock.json: `make test` "
            "installs it (or `make node-deps`, or `npm ci --no-audit --no-fund` in tests/node).",
            pytrace=False,
        )


def test_given_the_local_api_when_the_twilio_node_client_runs_the_scenario_then_every_step_passes(
    local_api: LocalApi,
):
    node = node_executable()
    require_installed_client()
    apn = apns_certificate_form()
    # Only PATH, HOME and LANG are inherited: no TWILIO_EDGE / TWILIO_REGION (twilio-node would
    # rewrite the host with them) and no TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN fallbacks.
    environment = clean_environment(
        NOTIFY_API_URL=local_api.url,
        NOTIFY_DYNAMODB_URL=local_api.dynamodb_url,
        NOTIFY_ACCOUNT_SID=local_api.account.username,
        NOTIFY_AUTH_TOKEN=local_api.account.password,
        NOTIFY_OTHER_ACCOUNT_SID=local_api.other_account.username,
        NOTIFY_OTHER_AUTH_TOKEN=local_api.other_account.password,
        NOTIFY_APN_CERTIFICATE=apn["Certificate"],
        NOTIFY_APN_PRIVATE_KEY=apn["PrivateKey"],
    )

    try:
        completed = subprocess.run(
            [node, SCENARIO.name],
            cwd=NODE_PROJECT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=SCENARIO_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        said = timeout.output or b""  # bytes, whatever `text` says
        pytest.fail(
            f"node scenario.mjs ran over {SCENARIO_SECONDS} s; it said:\n"
            + (said.decode(errors="replace") if isinstance(said, bytes) else said),
            pytrace=False,
        )

    if completed.returncode != 0:
        pytest.fail(
            f"node scenario.mjs exited {completed.returncode}; it said:\n{completed.stdout}",
            pytrace=False,
        )
    steps = re.findall(r"^ok \d+ - ", completed.stdout, flags=re.MULTILINE)
    assert len(steps) >= SCENARIO_STEPS, f"the scenario ran {len(steps)} steps:\n{completed.stdout}"
    assert re.search(r"^\d+ passed, 0 failed$", completed.stdout, flags=re.MULTILINE)
    print(completed.stdout)  # `pytest -s` or `-rP` shows each step and its duration
