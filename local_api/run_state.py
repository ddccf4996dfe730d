"""What a running `make run` leaves in its state directory (.local/, git-ignored) for the tools
that work against its tables from other processes, and removes when it stops:

- run.json: its process, its endpoints, and what the template's references and deploy-time
  values resolve to in it (table names, queue URLs, the page token secret), so that
  `make invoke` and `make fixtures` give a function the environment `make run` gives it;
- sam-env-vars.json: the same environment, every function's, in the format
  `sam local invoke --env-vars` and `sam local start-api --env-vars` take, with the endpoints
  named as a container reaches them.

A state left by a `make run` that died without removing it must not mislead: `unusable` says
why a recorded state cannot be used (its process gone, its DynamoDB not answering or without
the template's tables), quickly.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from local_api.runtime import Endpoints, dynamodb_client, function_environments
from local_api.template import SamTemplate

STATE_FILE = "run.json"
SAM_ENV_VARS_FILE = "sam-env-vars.json"
# How a container reaches the host's loopback (Docker Desktop, Finch and others): what the
# endpoints of sam-env-vars.json name instead of 127.0.0.1.
CONTAINER_HOST = "host.docker.internal"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# A live `make run` answers at once; anything slower is not worth waiting for.
_CONNECT_SECONDS = 1.0
_READ_SECONDS = 3.0


@dataclass(frozen=True)
class RunState:
    pid: int
    api_url: str
    dynamodb_endpoint: str
    # The embedded moto's server: SQS and EventBridge (and DynamoDB, unless another one is used).
    aws_endpoint: str
    # What the template's `!Ref`s and `!GetAtt`s resolve to (runtime.template_references).
    references: dict[str, str]
    # The values the functions get for what CloudFormation resolves at deploy time (the page
    # token secret), and the shell's overrides of the template's variables.
    settings: dict[str, str]

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(self.dynamodb_endpoint, self.aws_endpoint)


def write_state(
    state_dir: Path, state: RunState, template: SamTemplate, container_host: str
) -> None:
    """Write run.json (readable by its owner only: it holds the page token secret) and
    sam-env-vars.json."""
    state_dir.mkdir(parents=True, exist_ok=True)
    _write_private(state_dir / STATE_FILE, asdict(state))
    _write_private(state_dir / SAM_ENV_VARS_FILE, sam_env_vars(template, state, container_host))


def remove_state(state_dir: Path, pid: int) -> None:
    """Remove what `write_state` wrote for process `pid`, unless another `make run` has
    written its own since."""
    recorded = read_state(state_dir)
    if recorded is not None and recorded.pid != pid:
        return
    for name in (STATE_FILE, SAM_ENV_VARS_FILE):
        (state_dir / name).unlink(missing_ok=True)


def read_state(state_dir: Path) -> RunState | None:
    """The recorded state; None when there is none, or none that can be read."""
    try:
        recorded = json.loads((state_dir / STATE_FILE).read_text())
        return RunState(
            pid=int(recorded["pid"]),
            api_url=str(recorded["api_url"]),
            dynamodb_endpoint=str(recorded["dynamodb_endpoint"]),
            aws_endpoint=str(recorded["aws_endpoint"]),
            references={str(k): str(v) for k, v in dict(recorded["references"]).items()},
            settings={str(k): str(v) for k, v in dict(recorded["settings"]).items()},
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def unusable(state: RunState, template: SamTemplate) -> str | None:
    """Why the `make run` that recorded `state` cannot serve, or None when it can: its process
    is alive, its embedded server takes connections, and its DynamoDB holds the tables it
    recorded for the template."""
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        return f"its process {state.pid} is gone"
    except PermissionError:
        pass  # alive, under another user
    aws = urlsplit(state.aws_endpoint)
    try:
        socket.create_connection((aws.hostname, aws.port or 80), _CONNECT_SECONDS).close()
    except OSError as error:
        return f"nothing answers at {state.aws_endpoint} ({error})"
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = dynamodb_client(
        state.dynamodb_endpoint,
        Config(
            connect_timeout=_CONNECT_SECONDS,
            read_timeout=_READ_SECONDS,
            retries={"total_max_attempts": 1},
        ),
    )
    try:
        listed = set(client.list_tables()["TableNames"])
    except (BotoCoreError, ClientError) as error:
        return f"its DynamoDB at {state.dynamodb_endpoint} does not answer ({error})"
    expected = {state.references.get(logical_id, logical_id) for logical_id in template.tables}
    missing = sorted(expected - listed)
    if missing:
        return f"its DynamoDB at {state.dynamodb_endpoint} has no table {', '.join(missing)}"
    return None


def sam_env_vars(
    template: SamTemplate, state: RunState, container_host: str = CONTAINER_HOST
) -> dict[str, dict[str, str]]:
    """`--env-vars` for the SAM CLI: every function's environment by its logical id (what SAM
    lets a file set, as it sets only the variables the template declares), its endpoints as
    seen from a container."""
    endpoints = Endpoints(
        _seen_from(state.dynamodb_endpoint, container_host),
        _seen_from(state.aws_endpoint, container_host),
    )
    local = {**endpoints.variables(), **state.settings}
    return function_environments(template, state.references, local)


def _seen_from(url: str, container_host: str) -> str:
    """`url` with a loopback host replaced by the container's name for the host."""
    parts = urlsplit(url)
    if parts.hostname not in _LOOPBACK:
        return url
    netloc = container_host if parts.port is None else f"{container_host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _write_private(path: Path, content: Mapping[str, Any]) -> None:
    """Write `content` as JSON, replacing the file whole (a reader never sees half of it)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(content, file, indent=2, sort_keys=True)
        file.write("\n")
    partial.replace(path)
