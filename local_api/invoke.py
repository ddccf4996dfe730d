"""`make invoke FN=<Function> EVENT=events/<file>.json`: what `sam local invoke <Function> -e
<file>` does, without Docker. It runs that one function of template.yaml, in this process, on
that event, with the environment the template gives it, against the tables of the running
`make run` (found through the state it leaves in .local/), or, when none is running, against a
fresh embedded DynamoDB, SQS and EventBridge with the template's tables, queues and buses.

Before invoking, it puts the sample events' fixtures back (local_api.fixtures), so that each
event in events/ does what its name says however often it is invoked; --no-fixtures leaves
the tables as they are.

What it prints is what `sam local invoke` prints: on stdout, the function's response as JSON
and nothing else; on stderr, the function's logs between the runtime's START, END and REPORT
lines. It exits 0 whenever the function ran, even when it failed: an unhandled exception makes
the response Lambda's error JSON (errorMessage, errorType, requestId, stackTrace) and is logged
as Lambda logs it; a function that runs past its timeout is stopped with nothing on stdout.
It exits 1, printing "Error: ...", when the function is not in the template or the event file
cannot be read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from local_api.events import LambdaContext
from local_api.fixtures import seed_event_fixtures
from local_api.run_state import STATE_FILE, read_state, unusable
from local_api.runtime import (
    LOCAL_CREDENTIALS,
    Endpoints,
    create_event_buses,
    create_keys,
    create_queues,
    create_secrets,
    create_tables,
    dynamodb_client,
    environment_overrides,
    events_client,
    function_environments,
    keep_aws_local,
    kms_client,
    local_settings,
    moto_in_process,
    put_layers_on_path,
    secretsmanager_client,
    sqs_client,
    template_references,
)
from local_api.template import TEMPLATE_PATH, Function, SamTemplate

DEFAULT_STATE_DIR = Path(".local")
STDIN = "-"
# How the Lambda runtime indents the lines of a stack trace in its log (U+00A0).
_LOG_INDENT = "\u00a0"


class UserError(Exception):
    """What the SAM CLI answers with `Error: ...` and exit status 1."""


@dataclass(frozen=True)
class Target:
    """The tables, queues and buses a function is invoked against: what its `!Ref`s resolve to,
    the deploy-time values and overrides, and the endpoints (None: moto in this process)."""

    references: dict[str, str]
    settings: dict[str, str]
    endpoints: Endpoints

    def environment(self, template: SamTemplate, logical_id: str | None = None) -> dict[str, str]:
        """The environment of one function, or of all (which agree: see LocalFunctions.start),
        with the local credentials and endpoints."""
        local = {**self.endpoints.variables(), **self.settings, **LOCAL_CREDENTIALS}
        environments = function_environments(template, self.references, local)
        chosen = [environments[logical_id]] if logical_id else list(environments.values())
        merged = {name: value for variables in chosen for name, value in variables.items()}
        return {**local, **merged}


@contextmanager
def target(
    template: SamTemplate, state_dir: Path, overrides: Mapping[str, str], log: TextIO
) -> Iterator[Target]:
    """The running `make run`'s tables when its state is there and usable, else fresh embedded
    ones, with a word on stderr as to why."""
    state_file = state_dir / STATE_FILE
    state = read_state(state_dir)
    if state is not None:
        reason = unusable(state, template)
        if reason is None:
            print(f"Invoking against the make run at {state.api_url}", file=log)
            yield Target(state.references, {**state.settings, **overrides}, state.endpoints)
            return
        why = f"the make run recorded in {state_file} cannot be used: {reason}"
    elif state_file.exists():
        why = f"{state_file} cannot be read"
    else:
        why = f"no make run is running (no {state_file})"
    print(f"{why}; invoking against a fresh embedded DynamoDB", file=log)
    with moto_in_process():
        tables = create_tables(dynamodb_client(None), template)
        queues = create_queues(sqs_client(None), template)
        buses = create_event_buses(events_client(None), template)
        buses |= create_keys(kms_client(None), template)  # the KMS keys are referred to alike
        secrets = create_secrets(secretsmanager_client(None), template)
        references = template_references(template, tables, queues, buses, secrets)
        yield Target(references, local_settings(overrides), Endpoints())


@dataclass(frozen=True)
class Invocation:
    """What a function's invocation gave: its response (JSON text), or None when it ran out
    of time; and how long its initialisation and its run took."""

    response: str | None
    init_seconds: float
    run_seconds: float


def invoke(function: Function, event_text: str, request_id: str, log: TextIO) -> Invocation:
    """Import the function's handler, then run it on the event within its timeout, as the
    Lambda runtime does."""
    started = time.monotonic()
    try:
        handler = function.load_handler()
    except Exception as error:  # the runtime's answer to a handler that cannot be loaded
        module = function.handler.rsplit(".", 1)[0]
        if isinstance(error, ImportError):
            failure = _error(
                "Runtime.ImportModuleError", f"Unable to import module '{module}': {error}"
            )
        elif isinstance(error, SyntaxError):
            failure = _error(
                "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module}': {error}"
            )
        else:
            failure = _exception_error(error)
        return _failed(failure, request_id, log, time.monotonic() - started, 0.0)
    init_seconds = time.monotonic() - started
    try:
        event = json.loads(event_text)
    except ValueError as error:
        failure = _error("Runtime.UnmarshalError", f"Unable to unmarshal input: {error}")
        return _failed(failure, request_id, log, init_seconds, 0.0)

    context = LambdaContext(
        function_name=function.logical_id,
        memory_limit_in_mb=function.memory,
        timeout_seconds=function.timeout,
        aws_request_id=request_id,
    )
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = handler(event, context)
        except BaseException as error:  # anything the handler raises is the invocation's error
            outcome["error"] = error

    worker = threading.Thread(target=run, name=function.logical_id, daemon=True)
    run_started = time.monotonic()
    worker.start()
    worker.join(function.timeout)
    run_seconds = time.monotonic() - run_started
    if worker.is_alive():
        return Invocation(None, init_seconds, run_seconds)
    if "error" in outcome:
        return _failed(
            _exception_error(outcome["error"]), request_id, log, init_seconds, run_seconds
        )
    try:
        response = json.dumps(outcome["result"], ensure_ascii=False)
    except (TypeError, ValueError) as error:
        failure = _error("Runtime.MarshalError", f"Unable to marshal response: {error}")
        return _failed(failure, request_id, log, init_seconds, run_seconds)
    return Invocation(response, init_seconds, run_seconds)


def _error(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def _exception_error(error: BaseException) -> dict[str, Any]:
    """Lambda's error for an exception: its message, its class's name, and the stack from the
    handler down (this module's frames left out, as the runtime leaves out its own)."""
    frames = traceback.extract_tb(error.__traceback__)
    while frames and frames[0].filename == __file__:
        frames.pop(0)
    return _error(type(error).__name__, str(error), traceback.format_list(frames))


def _failed(
    failure: dict[str, Any], request_id: str, log: TextIO, init: float, run: float
) -> Invocation:
    """The invocation's answer when it failed, logged as the runtime logs it."""
    error = {**failure, "requestId": request_id}
    error = {key: error[key] for key in ("errorMessage", "errorType", "requestId", "stackTrace")}
    heading = " ".join(part for part in ("[ERROR]", error["errorType"]) if part)
    if error["errorMessage"]:
        heading += f"{':' if error['errorType'] else ''} {error['errorMessage']}"
    lines = [heading, "Traceback (most recent call last):"]
    for entry in error["stackTrace"]:
        for line in entry.splitlines():
            stripped = line.lstrip(" ")
            lines.append(_LOG_INDENT * (len(line) - len(stripped)) + stripped)
    print("\n".join(lines), file=log)
    return Invocation(json.dumps(error, ensure_ascii=False), init, run)


def report(request_id: str, function: Function, invocation: Invocation) -> str:
    """The runtime's REPORT line."""
    duration = invocation.run_seconds * 1000
    max_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
    return (
        f"REPORT RequestId: {request_id}\tInit Duration: {invocation.init_seconds * 1000:.2f} ms"
        f"\tDuration: {duration:.2f} ms\tBilled Duration: {math.ceil(duration)} ms"
        f"\tMemory Size: {function.memory} MB\tMax Memory Used: {max_memory} MB\t"
    )


def read_event(path: str | None) -> str:
    """The event's text: the file's, stdin's for "-", "{}" for none (as the SAM CLI does)."""
    if path is None:
        return "{}"
    if path == STDIN:
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(str(error)) from None


def find_function(template: SamTemplate, logical_id: str | None) -> Function:
    functions = template.functions
    options = f"Possible options in your template: {sorted(functions)}"
    if logical_id is None:
        if len(functions) != 1:
            raise UserError(
                "You must provide a function logical ID when there are more than one "
                f"functions in your template. {options}"
            )
        return next(iter(functions.values()))
    if logical_id not in functions:
        raise UserError(f"Function {logical_id} not found in template. {options}")
    return functions[logical_id]


def _runtime(template: SamTemplate, function: Function) -> str:
    own = template.resources[function.logical_id].get("Properties", {})
    defaults = template.document.get("Globals", {}).get("Function", {})
    return str(own.get("Runtime", defaults.get("Runtime", "")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_api.invoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("function", nargs="?", help="the function's logical id in the template")
    parser.add_argument("-e", "--event", help="the event's JSON file ('-': stdin; none: {})")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where make run records itself (default .local)",
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument(
        "--no-fixtures", action="store_true", help="do not put the events' fixtures back first"
    )
    args = parser.parse_args(argv)
    # Only the response goes to stdout: the function's logs, and anything else, to stderr.
    out, log = sys.stdout, sys.stderr
    sys.stdout = log
    try:
        template = SamTemplate.load(args.template)
        function = find_function(template, args.function)
        event_text = read_event(args.event)
        overrides = environment_overrides(template, os.environ)  # before keep_aws_local()
        keep_aws_local()
        put_layers_on_path(template)
        print(f"Invoking {function.handler} ({_runtime(template, function)})", file=log)
        with target(template, args.state_dir, overrides, log) as tables:
            os.environ.update(tables.environment(template, function.logical_id))
            if not args.no_fixtures:
                seed_event_fixtures(template, function.code_dir.name)
            request_id = str(uuid.uuid4())
            print(f"START RequestId: {request_id} Version: $LATEST", file=log)
            invocation = invoke(function, event_text, request_id, log)
            if invocation.response is None:
                print(
                    f"Function '{function.logical_id}' timed out after {function.timeout} seconds",
                    file=log,
                )
                log.flush()
                os._exit(0)  # the handler's thread cannot be stopped; Lambda stops it too
            print(f"END RequestId: {request_id}", file=log)
            print(report(request_id, function, invocation), file=log)
            out.write(invocation.response)
            out.flush()
            print(file=log)
    except UserError as error:
        print(f"Error: {error}", file=log)
        return 1
    finally:
        sys.stdout = out
    return 0


if __name__ == "__main__":
    sys.exit(main())
