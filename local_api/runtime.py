"""The template's functions running in this process against a DynamoDB endpoint (an embedded
moto by default, or any DynamoDB-compatible endpoint) and the embedded moto's SQS and
EventBridge."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from local_api import moto_patches
from local_api.events import LambdaContext
from local_api.template import (
    Function,
    SamTemplate,
    create_table_request,
    resolve,
    resolve_environment,
)

LOCAL_REGION = "us-east-1"
# moto and DynamoDB Local accept any credentials; these keep boto3 from looking for real ones.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",  # no secret: moto takes any  # nosec B105
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REGION": LOCAL_REGION,
}
# Variables that would lead boto3 elsewhere than LOCAL_CREDENTIALS and the local endpoints.
_REMOTE_AWS_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_REMOTE_AWS_PREFIX = "AWS_ENDPOINT_URL"
# Queue properties that CloudFormation passes to SQS as queue attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


@contextmanager
def embedded_dynamodb() -> Iterator[str]:
    """A moto server on a free loopback port; yields its endpoint URL. It serves SQS too.

    It answers one request at a time (with `moto_in_process`, whose requests take the same
    lock). moto's DynamoDB is not thread-safe: a transaction snapshots the items it names,
    and a cancelled one restores them, undoing writes that other requests made meanwhile.
    DynamoDB makes every request atomic; one at a time does too. SQS stays under the same
    lock, as moto's SQS is not thread-safe either (two receives can take the same message; a
    delete rebuilds the queue's list, losing a message sent meanwhile). So nothing here
    long-polls: a long poll would hold the lock for its wait.
    """
    from moto.server import ThreadedMotoServer

    moto_patches.install()
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


@contextmanager
def moto_in_process() -> Iterator[None]:
    """Meanwhile, this process's boto3 clients that name no endpoint (botocore's default AWS
    endpoints) are answered by moto in this process, from the data `embedded_dynamodb`'s
    server holds (moto keeps one set of backends a process), under the server's lock.

    The local API's functions and pollers reach moto this way, with no connection and no HTTP
    on either side: a create through the local API takes about 40% less CPU than over HTTP.
    Enter it before the server starts: starting moto's mock empties its backends. Clients
    naming an endpoint (another DynamoDB, say) still go to it.
    """
    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber

    moto_patches.install()
    stubber = BotocoreStubber.__call__

    def one_at_a_time(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        with _ONE_AT_A_TIME:
            return stubber(self, event_name, request, **kwargs)

    with mock_aws():
        keep_aws_local()  # the mock sets credentials of its own
        BotocoreStubber.__call__ = one_at_a_time  # type: ignore[method-assign]
        try:
            yield
        finally:
            BotocoreStubber.__call__ = stubber  # type: ignore[method-assign]


# moto answers one request at a time, over HTTP or in process (see embedded_dynamodb).
_ONE_AT_A_TIME = threading.Lock()


class _OneRequestAtATime:
    """WSGI middleware that runs the application, and reads its response, under the lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with _ONE_AT_A_TIME:
            response = self._app(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()


def keep_aws_local() -> None:
    """Give this process the local credentials and region, and drop what would lead boto3
    elsewhere (a profile, a session token, endpoint URLs), whatever the shell set."""
    for name in list(os.environ):
        if name in _REMOTE_AWS_VARIABLES or name.startswith(_REMOTE_AWS_PREFIX):
            del os.environ[name]
    os.environ.update(LOCAL_CREDENTIALS)


def dynamodb_client(endpoint_url: str | None, config: Any = None) -> Any:
    return _client("dynamodb", endpoint_url, config)


def sqs_client(endpoint_url: str | None) -> Any:
    return _client("sqs", endpoint_url)


def events_client(endpoint_url: str | None) -> Any:
    return _client("events", endpoint_url)


def kms_client(endpoint_url: str | None) -> Any:
    return _client("kms", endpoint_url)


def secretsmanager_client(endpoint_url: str | None) -> Any:
    return _client("secretsmanager", endpoint_url)


def streams_client(endpoint_url: str | None) -> Any:
    # botocore names a stream's account in its endpoint's host (123456789012.streams-ddb...),
    # which moto's in-process mock does not answer: without an endpoint, the regional one.
    regional = f"https://streams.dynamodb.{LOCAL_REGION}.amazonaws.com"
    return _client("dynamodbstreams", endpoint_url or regional)


def _client(service: str, endpoint_url: str | None, config: Any = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        config=config,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def put_layers_on_path(template: SamTemplate) -> None:
    """Make the template's layers importable, as Lambda does, before any handler is loaded."""
    for layer in reversed(template.layer_dirs):
        if str(layer) not in sys.path:
            sys.path.insert(0, str(layer))


def create_tables(client: Any, template: SamTemplate, prefix: str = "") -> dict[str, str]:
    """Create each table of the template (if missing); returns logical id -> table name."""
    names = {logical_id: f"{prefix}{logical_id}" for logical_id in template.tables}
    existing = set(client.list_tables().get("TableNames", []))
    for logical_id, properties in template.tables.items():
        if names[logical_id] not in existing:
            client.create_table(**create_table_request(names[logical_id], properties))
            if "TimeToLiveSpecification" in properties:
                client.update_time_to_live(
                    TableName=names[logical_id],
                    TimeToLiveSpecification=properties["TimeToLiveSpecification"],
                )
    return names


def create_event_buses(client: Any, template: SamTemplate, prefix: str = "") -> dict[str, str]:
    """Create each EventBridge bus of the template (if missing), named after its logical id;
    returns what `!Ref` (the name) and `!GetAtt .Arn` of each resolve to."""
    references = {}
    existing = {bus["Name"]: bus["Arn"] for bus in client.list_event_buses().get("EventBuses", [])}
    for logical_id in template.of_type("AWS::Events::EventBus"):
        name = f"{prefix}{logical_id}"
        arn = existing.get(name) or client.create_event_bus(Name=name)["EventBusArn"]
        references[logical_id] = name
        references[f"{logical_id}.Arn"] = arn
    return references


def create_keys(client: Any, template: SamTemplate, prefix: str = "") -> dict[str, str]:
    """Create each KMS key of the template (if missing), found again by an alias named after
    its logical id; returns what `!Ref` (the key ID) and `!GetAtt .Arn` of each resolve to."""
    references = {}
    aliases = {
        alias["AliasName"]: alias.get("TargetKeyId") for alias in client.list_aliases()["Aliases"]
    }
    for logical_id in template.of_type("AWS::KMS::Key"):
        alias = f"alias/{prefix}{logical_id}"
        key_id = aliases.get(alias)
        if key_id is None:
            key_id = client.create_key(Description=logical_id)["KeyMetadata"]["KeyId"]
            client.create_alias(AliasName=alias, TargetKeyId=key_id)
        references[logical_id] = key_id
        references[f"{logical_id}.Arn"] = client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    return references


def create_secrets(client: Any, template: SamTemplate, prefix: str = "") -> dict[str, str]:
    """Create each Secrets Manager secret of the template (if missing), named after its logical
    id, its value generated as its GenerateSecretString says; returns what `!Ref` of each
    resolves to (its ARN)."""
    references = {}
    for logical_id, resource in template.of_type("AWS::SecretsManager::Secret").items():
        name = f"{prefix}{logical_id}"
        try:
            references[logical_id] = client.describe_secret(SecretId=name)["ARN"]
            continue
        except client.exceptions.ResourceNotFoundException:
            pass
        generate = resource.get("Properties", {}).get("GenerateSecretString", {})
        options = {k: v for k, v in generate.items() if k in _PASSWORD_OPTIONS}
        value = client.get_random_password(**options)["RandomPassword"]
        references[logical_id] = client.create_secret(Name=name, SecretString=value)["ARN"]
    return references


# What GetRandomPassword takes of a template's GenerateSecretString.
_PASSWORD_OPTIONS = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeLowercase",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


@dataclass(frozen=True)
class LocalQueue:
    logical_id: str
    url: str
    arn: str


def create_queues(client: Any, template: SamTemplate, prefix: str = "") -> dict[str, LocalQueue]:
    """Create each queue of the template, named after its logical id, with its attributes and
    then its RedrivePolicy (whose dead-letter queue must exist first); logical id -> queue."""
    queues = {}
    for logical_id, properties in template.queues.items():
        name = f"{prefix}{logical_id}{'.fifo' if properties.get('FifoQueue') else ''}"
        attributes = {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in properties.items()
            if key in _QUEUE_ATTRIBUTES and not isinstance(value, dict)  # no KMS keys locally
        }
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        queues[logical_id] = LocalQueue(logical_id, url, arn["Attributes"]["QueueArn"])
    references = queue_references(queues)
    for logical_id, properties in template.queues.items():
        if "RedrivePolicy" in properties:
            policy = json.dumps(resolve(properties["RedrivePolicy"], references))
            client.set_queue_attributes(
                QueueUrl=queues[logical_id].url, Attributes={"RedrivePolicy": policy}
            )
    return queues


def queue_references(queues: Mapping[str, LocalQueue]) -> dict[str, str]:
    """What `!Ref Queue` (its URL) and `!GetAtt Queue.Arn` resolve to."""
    references = {logical_id: queue.url for logical_id, queue in queues.items()}
    references.update({f"{logical_id}.Arn": queue.arn for logical_id, queue in queues.items()})
    return references


def environment_overrides(template: SamTemplate, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables the template declares for a function that `environ` sets, as
    `sam local --env-vars` would override them - except those that keep the functions local
    (credentials, region, endpoints)."""
    declared = {name for function in template.functions.values() for name in function.environment}
    return {
        name: environ[name]
        for name in sorted(declared)
        if name in environ and name not in LOCAL_CREDENTIALS and name not in ENDPOINT_VARIABLES
    }


# The variables that name the endpoints the layer's clients use (unset in AWS).
ENDPOINT_VARIABLES = (
    "DYNAMODB_ENDPOINT_URL",
    "SQS_ENDPOINT_URL",
    "EVENTS_ENDPOINT_URL",
    "KMS_ENDPOINT_URL",
    "SECRETSMANAGER_ENDPOINT_URL",
)


@dataclass(frozen=True)
class Endpoints:
    """Where the functions' clients go. None: botocore's default endpoints, which moto's
    in-process mock answers (see moto_in_process)."""

    dynamodb: str | None = None
    # SQS, EventBridge, KMS and Secrets Manager: the embedded moto's server, side by side.
    aws: str | None = None

    def variables(self) -> dict[str, str]:
        dynamodb, aws = self.dynamodb or "", self.aws or ""
        return dict(zip(ENDPOINT_VARIABLES, (dynamodb, aws, aws, aws, aws), strict=True))


def template_references(
    template: SamTemplate,
    table_names: Mapping[str, str],
    queues: Mapping[str, LocalQueue] | None = None,
    event_buses: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What the template's `!Ref`s and `!GetAtt`s resolve to locally: its parameters' defaults,
    the tables', queues' and buses' local names, URLs and ARNs, the secrets' ARNs."""
    return {
        **{k: str(v) for k, v in template.parameters.items()},
        **table_names,
        **queue_references(queues or {}),
        **(event_buses or {}),
        **(secrets or {}),
    }


def function_environments(
    template: SamTemplate, references: Mapping[str, str], local: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Each function's environment as the template declares it, resolved through `references`,
    with `local` replacing the values it names; by logical id."""
    return {
        logical_id: resolve_environment(function.environment, references, local)
        for logical_id, function in template.functions.items()
    }


# Locally, the providers are the stand-ins (`make run` and the end-to-end tests give their
# addresses as overrides) or nothing: a port on loopback that answers nobody, so that no local
# run sends a notification to Apple, Google or Twilio.
PROVIDERS_NOWHERE = {
    "APNS_ENDPOINT": "https://127.0.0.1:9",
    "APNS_SANDBOX_ENDPOINT": "https://127.0.0.1:9",
    "FCM_ENDPOINT": "https://127.0.0.1:9",
    "FCM_TOKEN_ENDPOINT": "https://127.0.0.1:9/token",  # nosec B105 - a URL, no secret
    "TWILIO_API_ENDPOINT": "https://127.0.0.1:9",
}


def local_settings(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """What replaces the template's values locally: the shell's `overrides`, and the providers
    nowhere unless they name them. (Nothing is resolved at deploy time any more: the page-token
    secret is a secret of the stack, which create_secrets makes locally.)"""
    return {**PROVIDERS_NOWHERE, **(overrides or {})}


class LocalFunctions:
    """Invokes the template's functions the way Lambda would, one invocation at a time per
    function (as one execution environment does), in this process."""

    def __init__(
        self,
        template: SamTemplate,
        environment: Mapping[str, str],
        references: Mapping[str, str] | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.functions = template.functions
        self.environment = dict(environment)
        # What the environment was resolved from: see `start`.
        self.references = dict(references or {})
        self.settings = dict(settings or {})
        self._locks = {name: threading.Lock() for name in self.functions}

    @classmethod
    def start(
        cls,
        template: SamTemplate,
        endpoint_url: str | None,
        table_names: Mapping[str, str],
        overrides: Mapping[str, str] | None = None,
        *,
        queues: Mapping[str, LocalQueue] | None = None,
        sqs_endpoint_url: str | None = None,
        event_buses: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> LocalFunctions:
        """Resolve every function's environment and export it to this process.

        The functions share one process (and so one `os.environ`); the template gives them
        the same variables through Globals, and this refuses a template where they differ.
        `overrides` replace the values of variables, but never LOCAL_CREDENTIALS.
        """
        references = template_references(template, table_names, queues, event_buses, secrets)
        settings = local_settings(overrides)
        local = {
            **Endpoints(endpoint_url, sqs_endpoint_url).variables(),
            **settings,
            **LOCAL_CREDENTIALS,
        }
        merged: dict[str, str] = {}
        for variables in function_environments(template, references, local).values():
            for name, value in variables.items():
                if merged.setdefault(name, value) != value:
                    raise ValueError(f"functions disagree on {name}; the local API needs one value")
        environment = {**local, **merged}
        keep_aws_local()
        os.environ.update(environment)
        return cls(template, environment, references, settings)

    def served_at(self, base_url: str) -> None:
        """The local server's URL, where the functions' URLs lead (as PUBLIC_BASE_URL), unless
        the shell gave PUBLIC_BASE_URL: never the Host a client names. Before any invocation,
        since the layer reads its settings once."""
        if self.settings.get("PUBLIC_BASE_URL"):
            return
        for variables in (self.settings, self.environment, os.environ):
            variables["PUBLIC_BASE_URL"] = base_url

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
