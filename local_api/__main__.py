"""`python -m local_api`: serve every route of template.yaml on http://127.0.0.1:$PORT, as API
Gateway would (each route's Lambda authorizer first), and run its SQS-triggered functions, as
Lambda's event sources would.

An embedded moto holds the template's DynamoDB tables, SQS queues and EventBridge buses: the
functions reach it in this process, and anyone else through its server on a loopback port.
DynamoDB can be another DynamoDB-compatible endpoint instead (DynamoDB Local, say); SQS and
EventBridge stay embedded.
Development accounts are created at start-up and printed with their auth tokens.

With --event-fixtures (as `make run` starts it), the sample events' account, Services and
bindings are put into the tables too (local_api.fixtures). With --state-dir (`make run`:
.local), it records itself there for `make invoke` and `make fixtures`, and writes the
environment file that `sam local invoke --env-vars` takes (local_api.run_state); it removes
both when it stops.

GET /openapi.json answers the API's OpenAPI document (openapi.json, written by
`make openapi`) with this server as its server, to anyone: no authorizer runs for it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from types import FrameType

from local_api.accounts import AccountRequest, DevAccount, requested_accounts, seed_accounts
from local_api.delivery_standins import DeliveryStandIns, delivery_standins
from local_api.event_sources import start_pollers
from local_api.fixtures import EVENT_ACCOUNT_SID, seed_event_fixtures
from local_api.run_state import (
    CONTAINER_HOST,
    SAM_ENV_VARS_FILE,
    RunState,
    remove_state,
    write_state,
)
from local_api.runtime import (
    LocalFunctions,
    LocalQueue,
    create_event_buses,
    create_keys,
    create_queues,
    create_secrets,
    create_tables,
    dynamodb_client,
    embedded_dynamodb,
    environment_overrides,
    events_client,
    keep_aws_local,
    kms_client,
    moto_in_process,
    put_layers_on_path,
    secretsmanager_client,
    sqs_client,
    streams_client,
)
from local_api.server import LocalApiServer
from local_api.stream_sources import SWEEP_SECONDS, Sweeping, TtlSweeper, stream_pollers
from local_api.template import TEMPLATE_PATH, SamTemplate

ENVIRONMENT_HELP = """environment:
  PORT                   the port when --port is not given (3000)
  DYNAMODB_ENDPOINT_URL  another DynamoDB-compatible endpoint than the embedded one
  NOTIFY_ACCOUNT_SID, NOTIFY_AUTH_TOKEN
                         the development account to create (both or neither);
                         without them an account is generated at each start
  NOTIFY_DEV_ACCOUNTS    more accounts to create: AC...:token,AC...:token
  TTL_SWEEP_SECONDS      how often DynamoDB's TTL is imitated: items whose TTL attribute
                         has passed are deleted (5; each sweep scans the tables)
  SAM_CONTAINER_HOST     the host that the endpoints of the --state-dir's sam-env-vars.json
                         name, as a container reaches this one (host.docker.internal)

  Any variable the template declares for a function (AUTH_CACHE_SECONDS, say) that is set
  here overrides the template's value, as `sam local --env-vars` does:
  `AUTH_CACHE_SECONDS=0 make run`. AWS credentials and region never do: the functions
  always talk to the local endpoints.
"""


@dataclass
class LocalApi:
    server: LocalApiServer
    dynamodb_endpoint: str
    sqs_endpoint: str
    queues: Mapping[str, LocalQueue]
    buses: list[str]
    accounts: list[DevAccount]
    overridden: list[str]
    functions: LocalFunctions
    event_fixtures: bool = False
    standins: DeliveryStandIns | None = None

    def state(self) -> RunState:
        """What `make invoke` needs to know of this server."""
        return RunState(
            pid=os.getpid(),
            api_url=self.server.base_url,
            dynamodb_endpoint=self.dynamodb_endpoint,
            aws_endpoint=self.sqs_endpoint,
            references=self.functions.references,
            settings=self.functions.settings,
        )


@contextmanager
def running(
    template: SamTemplate,
    address: tuple[str, int],
    environ: Mapping[str, str],
    accounts: list[AccountRequest],
    *,
    event_fixtures: bool = False,
    credentials_dir: Path | None = None,
) -> Iterator[LocalApi]:
    """Everything `make run` serves, ready to serve (with the sample events' fixtures in its
    tables when `event_fixtures`), the delivery stand-ins included (their development
    credentials written to `credentials_dir`, a temporary directory by default); stops the
    pollers, then the servers."""
    shell = environment_overrides(template, environ)  # read before keep_aws_local()
    keep_aws_local()
    put_layers_on_path(template)
    with ExitStack() as stack:
        if credentials_dir is None:
            credentials_dir = Path(stack.enter_context(TemporaryDirectory(prefix="notify-dev-")))
        standins = stack.enter_context(delivery_standins(credentials_dir))
        # The shell's own values, when a function declares them, win over the stand-ins'.
        overrides = {**standins.settings(), **shell}
        # The functions and pollers reach the embedded moto in this process (their clients
        # name no endpoint); its server answers everyone else from the same data.
        stack.enter_context(moto_in_process())
        embedded = stack.enter_context(embedded_dynamodb())
        dynamodb = environ.get("DYNAMODB_ENDPOINT_URL") or None
        tables = create_tables(dynamodb_client(dynamodb), template)
        sqs = sqs_client(None)
        queues = create_queues(sqs, template)
        buses = create_event_buses(events_client(None), template)
        buses |= create_keys(kms_client(None), template)  # the KMS keys are referred to alike
        secrets = create_secrets(secretsmanager_client(None), template)
        functions = LocalFunctions.start(
            template,
            dynamodb,
            tables,
            overrides,
            queues=queues,
            event_buses=buses,
            secrets=secrets,
        )
        server = LocalApiServer(address, functions)
        stack.callback(server.server_close)
        functions.served_at(server.base_url)
        # The table the layer keeps accounts in, when the template has one.
        accounts_table = functions.environment.get("ACCOUNTS_TABLE")
        seeded = (
            seed_accounts(
                dynamodb_client(dynamodb), accounts_table, accounts, _sealer(functions.environment)
            )
            if accounts_table
            else []
        )
        standins.accept_accounts(seeded)
        if event_fixtures:
            seed_event_fixtures(template)
        for poller in start_pollers(functions, queues, sqs):
            stack.callback(poller.stop)
        # DynamoDB's TTL and the functions its tables' streams trigger.
        sweeper = TtlSweeper(dynamodb_client(dynamodb), template, tables)
        readers = stream_pollers(
            functions, tables, dynamodb_client(dynamodb), streams_client(dynamodb), sweeper
        )
        for reader in readers:
            reader.start()
            stack.callback(reader.stop)
        sweeping = Sweeping(sweeper, _seconds(environ.get("TTL_SWEEP_SECONDS"), SWEEP_SECONDS))
        sweeping.start()
        stack.callback(sweeping.stop)
        bus_names = [name for logical_id, name in buses.items() if "." not in logical_id]
        yield LocalApi(
            server,
            dynamodb or embedded,
            embedded,
            queues,
            bus_names,
            seeded,
            sorted(shell),
            functions,
            event_fixtures,
            standins,
        )


def _sealer(environment: Mapping[str, str]) -> object | None:
    """The layer's sealer, with the template's credentials key, once the functions' environment
    is exported (the layer is importable by then); None for a template without the key."""
    if not environment.get("CREDENTIALS_KEY_ID"):
        return None
    from notify_bindings import dependencies

    return dependencies.sealer()


def _seconds(value: str | None, default: float) -> float:
    if not value:
        return default
    seconds = float(value)
    if not seconds > 0:
        raise ValueError(f"expected a number of seconds above 0, not {value!r}")
    return seconds


def announce(api: LocalApi, state_dir: Path | None = None) -> None:
    base = api.server.base_url
    lines = [f"notify-bindings local API on {base} (DynamoDB at {api.dynamodb_endpoint})"]
    lines += [f"account {a.sid} auth token {a.auth_token}" for a in api.accounts]
    if api.accounts:
        first = api.accounts[0]
        lines.append(
            f"try: curl -u {first.sid}:{first.auth_token} -X POST {base}/v1/Services "
            "-d FriendlyName=demo"
        )
        lines.append(
            f"admin: scripts/notify-admin --endpoint-url {api.dynamodb_endpoint} accounts list"
        )
    if api.queues:
        lines.append(f"SQS at {api.sqs_endpoint}: {', '.join(api.queues)}")
    if api.buses:
        lines.append(f"EventBridge at {api.sqs_endpoint}: {', '.join(api.buses)}")
    if api.standins is not None:
        lines += api.standins.lines()
    if api.overridden:
        lines.append(f"from this environment: {', '.join(api.overridden)}")
    if api.event_fixtures:
        lines.append(
            f"events/: their account {EVENT_ACCOUNT_SID}, Services and bindings are in the "
            "tables (again: make fixtures)"
        )
    if state_dir is not None:
        sample = "FetchBindingFunction -e events/fetch_binding.json"
        lines.append("invoke: make invoke FN=FetchBindingFunction EVENT=events/fetch_binding.json")
        lines.append(
            f"with Docker, after make build: scripts/sam local invoke {sample} "
            f"--env-vars {state_dir / SAM_ENV_VARS_FILE}"
        )
    print("\n".join(lines), flush=True)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the server as Ctrl-C does, cleanly


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_api",
        description=__doc__,
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "3000")), help="0 picks a free port"
    )
    parser.add_argument("--template", default=str(TEMPLATE_PATH))
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument(
        "--event-fixtures",
        action="store_true",
        help="put the sample events' account, Services and bindings into the tables",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="record this server there for make invoke, with an env-vars file for sam local",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # botocore's "Found credentials in environment variables" (the local ones, when the layer
    # makes its first client) would come before the banner, which must be the first line.
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _stop)
    template = SamTemplate.load(Path(args.template))
    try:
        accounts = requested_accounts(os.environ)
        recorded = False
        try:
            with running(
                template,
                (args.host, args.port),
                os.environ,
                accounts,
                event_fixtures=args.event_fixtures,
                credentials_dir=args.state_dir,
            ) as api:
                if args.state_dir is not None:
                    container_host = os.environ.get("SAM_CONTAINER_HOST") or CONTAINER_HOST
                    write_state(args.state_dir, api.state(), template, container_host)
                    recorded = True
                announce(api, args.state_dir)
                with suppress(KeyboardInterrupt):
                    api.server.serve_forever()
        finally:  # once everything has stopped
            if recorded and args.state_dir is not None:
                remove_state(args.state_dir, os.getpid())
    except ValueError as error:  # a setting the template or the environment got wrong
        parser.exit(2, f"{parser.prog}: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
