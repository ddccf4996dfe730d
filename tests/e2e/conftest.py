"""End-to-end fixtures: the local API that `make run` serves, started once per session as a
subprocess, and the official twilio client pointed at it. Tests talk to it only through
the client, each in a Service of its own."""

from __future__ import annotations

import os
import queue
import re
import secrets
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60
STOP_SECONDS = 10
_BANNER = re.compile(r"notify-bindings local API on (http://127\.0\.0\.1:\d+) ")


@pytest.fixture(scope="session")
def local_api_url() -> Iterator[str]:
    """`python -m local_api --port 0 --quiet`, as `make run` starts it, on a free port.

    Its first stdout line names the URL. The functions log to stdout for as long as the
    server runs, so a reader thread keeps draining it: a full pipe would stall the server.
    """
    environment = dict(os.environ)
    # The embedded DynamoDB, whatever endpoint the developer's shell may name.
    environment.pop("DYNAMODB_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local_api", "--port", "0", "--quiet"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first_line: queue.Queue[str] = queue.Queue(maxsize=1)
    recent: deque[str] = deque(maxlen=50)

    def drain() -> None:
        assert process.stdout is not None
        for number, line in enumerate(process.stdout):
            if number == 0:
                first_line.put(line)
            recent.append(line)
        if first_line.empty():  # it exited before saying anything
            first_line.put("")

    threading.Thread(target=drain, name="local-api-output", daemon=True).start()
    try:
        try:
            banner = first_line.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            banner = ""
        match = _BANNER.match(banner)
        if match is None:
            pytest.fail(
                "the local API did not announce its URL; it said:\n" + "".join(recent),
                pytrace=False,
            )
        yield match[1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def twilio_client(local_api_url: str) -> Any:
    """The official client, aimed at the local API. Any AC SID and token do until auth exists."""
    http_client = TwilioHttpClient(timeout=30)
    # Requests to the loopback server must not go through a proxy named by the environment.
    http_client.session.trust_env = False
    client = Client("AC" + secrets.token_hex(16), secrets.token_hex(16), http_client=http_client)
    client.notify.base_url = local_api_url
    return client


@pytest.fixture
def service_sid() -> str:
    """A Service of the test's own, so that tests share the server but not data."""
    return "IS" + secrets.token_hex(16)


@pytest.fixture
def bindings(twilio_client: Any, service_sid: str) -> Any:
    """The client's `BindingList` of the test's Service."""
    return twilio_client.notify.v1.services(service_sid).bindings
