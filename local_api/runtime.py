"""The template's functions running in this process against a DynamoDB endpoint: an embedded
moto server by default, or any DynamoDB-compatible endpoint."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3

from local_api.events import LambdaContext
from local_api.template import Function, SamTemplate, create_table_request, resolve_environment

LOCAL_REGION = "us-east-1"
# moto and DynamoDB Local accept any credentials; these keep boto3 from looking for real ones.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REGION": LOCAL_REGION,
}


@contextmanager
def embedded_dynamodb() -> Iterator[str]:
    """A moto server on a free loopback port; yields its endpoint URL.

    It answers one request at a time. moto's DynamoDB is not thread-safe: a transaction
    snapshots whole tables, and a cancelled one restores them, undoing writes that other
    requests made meanwhile. DynamoDB makes every request atomic; one at a time does too.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    wsgi_server = server._server  # moto offers no other way to wrap its WSGI application
    if wsgi_server is None:
        raise RuntimeError("the embedded DynamoDB did not start")
    wsgi_server.app = _OneRequestAtATime(wsgi_server.app)
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class _OneRequestAtATime:
    """WSGI middleware that runs the application, and reads its response, under one lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            response = self._app(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()


def dynamodb_client(endpoint_url: str | None) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def create_tables(client: Any, template: SamTemplate, prefix: str = "") -> dict[str, str]:
    """Create each table of the template (if missing); returns logical id -> table name."""
    names = {logical_id: f"{prefix}{logical_id}" for logical_id in template.tables}
    existing = set(client.list_tables().get("TableNames", []))
    for logical_id, properties in template.tables.items():
        if names[logical_id] not in existing:
            client.create_table(**create_table_request(names[logical_id], properties))
    return names


class LocalFunctions:
    """Invokes the template's functions the way Lambda would, one invocation at a time per
    function (as one execution environment does), in this process."""

    def __init__(self, template: SamTemplate, environment: Mapping[str, str]) -> None:
        self.template = template
        self.functions = template.functions
        self.environment = dict(environment)
        self._locks = {name: threading.Lock() for name in self.functions}

    @classmethod
    def start(
        cls,
        template: SamTemplate,
        endpoint_url: str | None,
        table_names: Mapping[str, str],
        overrides: Mapping[str, str] | None = None,
    ) -> LocalFunctions:
        """Resolve every function's environment and export it to this process.

        The functions share one process (and so one `os.environ`); the template gives them
        the same variables through Globals, and this refuses a template where they differ.
        """
        references = {**{k: str(v) for k, v in template.parameters.items()}, **table_names}
        local = {
            **LOCAL_CREDENTIALS,
            # No endpoint: botocore's default, which moto's in-process mock intercepts.
            "DYNAMODB_ENDPOINT_URL": endpoint_url or "",
            "PAGE_TOKEN_SECRET": secrets.token_urlsafe(32),
            "POWERTOOLS_METRICS_DISABLED": "true",
            **(overrides or {}),
        }
        merged: dict[str, str] = {}
        for function in template.functions.values():
            for name, value in resolve_environment(function.environment, references, local).items():
                if merged.setdefault(name, value) != value:
                    raise ValueError(f"functions disagree on {name}; the local API needs one value")
        environment = {**local, **merged}
        os.environ.update(environment)
        return cls(template, environment)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        function: Function = self.functions[logical_id]
        with self._locks[logical_id]:
            handler = function.load_handler()
            context = LambdaContext(
                function_name=logical_id,
                memory_limit_in_mb=function.memory,
                timeout_seconds=function.timeout,
            )
            return handler(event, context)
