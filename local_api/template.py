"""`template.yaml` read as the local API and the tests need it: functions, their routes and
authorizers, their SQS event sources, handlers, layers and environment, the DynamoDB tables and
the SQS queues - nothing repeated elsewhere."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms: `!Ref X` is {"Ref": "X"}, `!Sub s` {"Fn::Sub": s}."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(
            None, None, f"unexpected !{suffix}", node.start_mark
        )
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _short_form)


DEFAULT_ROUTE = "$default"
NO_AUTHORIZER = "NONE"  # what a route's `Auth: {Authorizer: NONE}` says


@dataclass(frozen=True)
class Authorizer:
    """An HttpApi Lambda authorizer (payload format 2.0, simple responses)."""

    name: str
    function: str  # logical id of the function that decides
    identity_headers: tuple[str, ...] = ()
    identity_query_strings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the template has it: /v1/Services/{ServiceSid}/Bindings, or $default
    function: str
    authorizer: Authorizer | None = None  # runs before the function, when the API names one

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.is_default else f"{self.method} {self.path}"

    @property
    def is_default(self) -> bool:
        """The route API Gateway takes when no other matches (an HttpApi event with no Path)."""
        return self.path == DEFAULT_ROUTE

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when `path` fits this route's pattern, else None."""
        if self.is_default:
            return None
        match = self._pattern.fullmatch(path)
        return match.groupdict() if match else None

    @property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)))


@dataclass(frozen=True)
class SqsEventSource:
    """An `SQS` event of a function: Lambda polls the queue and invokes it with batches."""

    queue: str  # logical id of the AWS::SQS::Queue
    batch_size: int = 10
    report_batch_item_failures: bool = False


@dataclass(frozen=True)
class StreamEventSource:
    """A `DynamoDB` event of a function: Lambda reads the table's stream and invokes it with
    batches of records, in order; with ReportBatchItemFailures it retries from the record
    named, else the whole batch, up to `maximum_retry_attempts` times (-1: until it expires)."""

    table: str  # logical id of the AWS::DynamoDB::Table
    batch_size: int = 100
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1
    # FilterCriteria's patterns: Lambda invokes the function only with records that match one
    # (none: every record); the others are passed over.
    filters: tuple[Mapping[str, Any], ...] = ()

    def admits(self, record: Mapping[str, Any]) -> bool:
        return not self.filters or any(_matches(pattern, record) for pattern in self.filters)


def _matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Lambda's event filtering, for the patterns it takes that match exact values: each key of
    the pattern is in the event, and a list of values holds the event's value."""
    if not isinstance(event, Mapping):
        return False
    for key, wanted in pattern.items():
        if key not in event:
            return False
        if isinstance(wanted, Mapping):
            if not _matches(wanted, event[key]):
                return False
        elif isinstance(wanted, list):
            if any(isinstance(value, Mapping) for value in wanted):
                raise ValueError(f"filter operators are not imitated locally: {wanted}")
            if event[key] not in wanted:
                return False
        else:
            raise ValueError(f"a filter pattern's values are lists or objects: {wanted!r}")
    return True


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...]
    environment: Mapping[str, Any]
    timeout: int
    memory: int
    routes: tuple[Route, ...] = field(default=())
    policies: tuple[Any, ...] = field(default=())
    sqs_sources: tuple[SqsEventSource, ...] = field(default=())
    stream_sources: tuple[StreamEventSource, ...] = field(default=())

    def load_handler(self) -> Handler:
        """Import the handler as Lambda would: layers on the path, the code dir as the root."""
        for layer in self.layer_dirs:
            if str(layer) not in sys.path:
                sys.path.insert(0, str(layer))
        module_name, attribute = self.handler.rsplit(".", 1)
        unique_name = f"{self.logical_id}.{module_name}"
        module = sys.modules.get(unique_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(
                unique_name, self.code_dir / f"{module_name.replace('.', '/')}.py"
            )
            if spec is None or spec.loader is None:
                raise ImportError(f"no handler module {module_name} in {self.code_dir}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique_name] = module
            spec.loader.exec_module(module)
        handler: Handler = getattr(module, attribute)
        return handler


class SamTemplate:
    def __init__(self, document: dict[str, Any], root: Path = PROJECT_ROOT) -> None:
        self.document = document
        self.root = root

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH) -> SamTemplate:
        document = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader  # nosec B506
        return cls(document, path.parent)

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.document["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r["Type"] == kind}

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            name: spec.get("Default") for name, spec in self.document.get("Parameters", {}).items()
        }

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return {
            name: resource["Properties"]
            for name, resource in self.of_type("AWS::DynamoDB::Table").items()
        }

    @property
    def queues(self) -> dict[str, dict[str, Any]]:
        return {
            name: resource.get("Properties", {})
            for name, resource in self.of_type("AWS::SQS::Queue").items()
        }

    @property
    def layer_dirs(self) -> tuple[Path, ...]:
        """The directory of every layer, as Lambda puts each on the functions' path."""
        return tuple(
            self._layer_dir(name) for name in self.of_type("AWS::Serverless::LayerVersion")
        )

    def globals_environment(self) -> dict[str, Any]:
        """The environment every function gets from Globals, unresolved."""
        globals_ = self.document.get("Globals", {}).get("Function", {})
        variables: dict[str, Any] = globals_.get("Environment", {}).get("Variables", {})
        return dict(variables)

    @property
    def functions(self) -> dict[str, Function]:
        defaults = self.document.get("Globals", {}).get("Function", {})
        return {
            name: self._function(name, resource["Properties"], defaults)
            for name, resource in self.of_type("AWS::Serverless::Function").items()
        }

    @property
    def routes(self) -> list[Route]:
        return [route for function in self.functions.values() for route in function.routes]

    def _function(self, name: str, own: dict[str, Any], defaults: dict[str, Any]) -> Function:
        """A function with the Globals merged in as SAM merges them."""
        props = {**defaults, **own}
        environment = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **own.get("Environment", {}).get("Variables", {}),
        }
        layer_ids = [
            layer["Ref"] for layer in [*defaults.get("Layers", []), *own.get("Layers", [])]
        ]
        events = props.get("Events", {}).values()
        routes = tuple(
            Route(
                event["Properties"].get("Method", "ANY").upper(),
                event["Properties"].get("Path", DEFAULT_ROUTE),
                name,
                self._route_authorizer(event["Properties"]),
            )
            for event in events
            if event["Type"] == "HttpApi"
        )
        sqs_sources = tuple(
            SqsEventSource(
                _logical_id(event["Properties"]["Queue"]),
                int(event["Properties"].get("BatchSize", 10)),
                "ReportBatchItemFailures" in event["Properties"].get("FunctionResponseTypes", []),
            )
            for event in events
            if event["Type"] == "SQS" and event["Properties"].get("Enabled", True)
        )
        stream_sources = tuple(
            StreamEventSource(
                _logical_id(event["Properties"]["Stream"]),
                int(event["Properties"].get("BatchSize", 100)),
                "ReportBatchItemFailures" in event["Properties"].get("FunctionResponseTypes", []),
                int(event["Properties"].get("MaximumRetryAttempts", -1)),
                tuple(
                    json.loads(entry["Pattern"])
                    for entry in event["Properties"].get("FilterCriteria", {}).get("Filters", [])
                ),
            )
            for event in events
            if event["Type"] == "DynamoDB" and event["Properties"].get("Enabled", True)
        )
        return Function(
            logical_id=name,
            code_dir=self.root / props["CodeUri"],
            handler=props["Handler"],
            layer_dirs=tuple(self._layer_dir(layer) for layer in dict.fromkeys(layer_ids)),
            environment=environment,
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            routes=routes,
            policies=tuple(props.get("Policies", [])),
            sqs_sources=sqs_sources,
            stream_sources=stream_sources,
        )

    def _route_authorizer(self, event: Mapping[str, Any]) -> Authorizer | None:
        """The authorizer API Gateway runs for an HttpApi event: the route's own `Auth`, else
        its API's DefaultAuthorizer (the implicit API's comes from Globals)."""
        api = event.get("ApiId")
        if api is None:
            auth = self.document.get("Globals", {}).get("HttpApi", {}).get("Auth", {})
        else:
            auth = self.resources[_logical_id(api)].get("Properties", {}).get("Auth", {})
        name = event.get("Auth", {}).get("Authorizer", auth.get("DefaultAuthorizer"))
        if name is None or name == NO_AUTHORIZER:
            return None
        spec: dict[str, Any] | None = auth.get("Authorizers", {}).get(name)
        if spec is None:
            raise ValueError(f"authorizer {name}: not among its HttpApi's Auth.Authorizers")
        function_arn = spec.get("FunctionArn")
        if _function_reference(function_arn) is None:
            raise ValueError(f"authorizer {name}: the local API runs Lambda authorizers only")
        simple = spec.get("EnableSimpleResponses") is True
        if str(spec.get("AuthorizerPayloadFormatVersion")) != "2.0" or not simple:
            raise ValueError(f"authorizer {name}: the local API runs payload 2.0 simple responses")
        identity = spec.get("Identity", {})
        return Authorizer(
            name,
            str(_function_reference(function_arn)),
            tuple(identity.get("Headers", [])),
            tuple(identity.get("QueryStrings", [])),
        )

    def _layer_dir(self, logical_id: str) -> Path:
        return self.root / str(self.resources[logical_id]["Properties"]["ContentUri"])


def _function_reference(reference: Any) -> str | None:
    """The function a Lambda authorizer's FunctionArn names: `!GetAtt F.Arn`, or `!Ref F.Alias`
    (the alias AutoPublishAlias makes, which the local API runs as the function itself)."""
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        return str(reference["Fn::GetAtt"][0])
    if isinstance(reference, dict) and str(reference.get("Ref", "")).endswith(".Alias"):
        return str(reference["Ref"]).removesuffix(".Alias")
    return None


def _logical_id(reference: Any) -> str:
    """The resource a `!Ref X` or `!GetAtt X.Attribute` names."""
    if isinstance(reference, dict) and "Ref" in reference:
        return str(reference["Ref"])
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        return str(reference["Fn::GetAtt"][0])
    raise ValueError(f"expected !Ref or !GetAtt, found {reference!r}")


def resolve(value: Any, references: Mapping[str, str]) -> Any:
    """`value` with `!Ref X` looked up as references["X"] and `!GetAtt X.Arn` as
    references["X.Arn"], at any depth; KeyError for anything else CloudFormation resolves."""
    if isinstance(value, list):
        return [resolve(item, references) for item in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return references[value["Ref"]]
    if "Fn::GetAtt" in value:
        return references[".".join(value["Fn::GetAtt"])]
    if any(key.startswith("Fn::") for key in value):
        raise KeyError(next(iter(value)))
    return {key: resolve(item, references) for key, item in value.items()}


def resolve_environment(
    environment: Mapping[str, Any], references: Mapping[str, str], overrides: Mapping[str, str]
) -> dict[str, str]:
    """Turn the template's environment into strings: `!Ref`s and `!GetAtt`s through
    `references`, values CloudFormation resolves at deploy time (secrets) through `overrides`."""
    resolved: dict[str, str] = {}
    unresolved = []
    for name, value in environment.items():
        if name in overrides:
            resolved[name] = overrides[name]
            continue
        try:
            value = resolve(value, references)
        except KeyError:
            unresolved.append(name)
            continue
        resolved[name] = str(value).lower() if isinstance(value, bool) else str(value)
    if unresolved:
        raise ValueError(f"no local value for environment variables: {', '.join(unresolved)}")
    return resolved


def create_table_request(name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """A CreateTable request with the key schema, indexes and billing of a template table."""
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if "GlobalSecondaryIndexes" in properties:
        request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    if "StreamSpecification" in properties:
        stream = properties["StreamSpecification"]
        request["StreamSpecification"] = {"StreamEnabled": True, **stream}
    return request
