"""`template.yaml` read as the local API and the tests need it: functions, their routes,
handlers, layers and environment, and the DynamoDB tables - nothing repeated elsewhere."""

from __future__ import annotations

import importlib.util
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


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the template has it: /v1/Services/{ServiceSid}/Bindings, or $default
    function: str

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
        document = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader
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
        routes = tuple(
            Route(
                event["Properties"].get("Method", "ANY").upper(),
                event["Properties"].get("Path", DEFAULT_ROUTE),
                name,
            )
            for event in props.get("Events", {}).values()
            if event["Type"] == "HttpApi"
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
        )

    def _layer_dir(self, logical_id: str) -> Path:
        return self.root / str(self.resources[logical_id]["Properties"]["ContentUri"])


def resolve_environment(
    environment: Mapping[str, Any], references: Mapping[str, str], overrides: Mapping[str, str]
) -> dict[str, str]:
    """Turn the template's environment into strings: `!Ref`s through `references`, values
    CloudFormation resolves at deploy time (secrets) through `overrides`."""
    resolved: dict[str, str] = {}
    unresolved = []
    for name, value in environment.items():
        if name in overrides:
            resolved[name] = overrides[name]
        elif isinstance(value, str):
            resolved[name] = value
        elif isinstance(value, dict) and "Ref" in value and value["Ref"] in references:
            resolved[name] = references[value["Ref"]]
        else:
            unresolved.append(name)
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
    return request
