"""The layer's shape, read from its source with `ast`: which package may import which, no import
cycles, no imports hidden from the reader, and no class or function too long to read at once.

The layer (layers/notify_bindings/notify_bindings) is packaged by concern:

- platform/    settings, deadlines, logging and metrics, errors, SIDs: what every other builds on;
- domain/      dataclasses and rules, plain Python;
- dal/         DynamoDB: the only code that imports botocore for tables;
- operations/  the rules between a request and the stores;
- providers/   the clients of APNs, FCM HTTP v1 and Twilio Messages, and their credentials:
               they speak HTTP and know nothing of bindings or tables;
- api/         the edge: the request, its adapter and handler, page tokens, authentication,
               what a client sends (requests/) and Twilio's JSON (responses/);
- dependencies.py, the composition root.

The functions (functions/<op>/app.py) stand on top: a few lines each.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "notify_bindings"
PACKAGE = "notify_bindings"
FUNCTIONS = ROOT / "functions"

# What each package of the layer may import of ours (the first package that prefixes a module
# decides), and which other packages besides the standard library.
OURS_ALLOWED: dict[str, set[str]] = {
    "platform": {"platform"},
    "domain": {"domain", "platform"},
    # dal.credentials opens sealed material into what the providers' clients take.
    "dal": {"dal", "domain", "platform", "providers"},
    "operations": {"operations", "dal", "domain", "platform", "dependencies", "providers"},
    "providers": {"providers", "platform"},
    "api.requests": {"api.requests", "domain", "platform"},
    "api.responses": {"api.responses", "domain", "platform"},
    "api": {"api", "operations", "domain", "platform", "dependencies"},
    "dependencies": {"platform"},
    "functions": {"api", "operations", "dependencies", "domain", "platform"},
}
THIRD_PARTY_ALLOWED: dict[str, set[str]] = {
    "platform": {"botocore", "aws_lambda_powertools"},
    "domain": set(),
    "dal": {"botocore", "cryptography"},
    # No pydantic: the functions that deliver notifications run operations, and pydantic's
    # import alone is a large part of a cold start.
    "operations": set(),
    "providers": {"httpx", "jwt", "cryptography"},
    "api.requests": {"pydantic"},
    "api.responses": {"pydantic"},
    "api": {"pydantic", "aws_lambda_powertools"},
    "dependencies": {"botocore"},
    "functions": {"aws_lambda_powertools"},
}
# The only imports made inside functions (and so, for their types, under TYPE_CHECKING): the
# composition root builds each of these on first use, so that a function loads what its own
# requests use and no more (tests/test_cold_start_imports.py).
DEFERRED_IMPORTS: dict[tuple[str, str], str] = {
    ("notify_bindings.dependencies", "snapshot_restore_py"): (
        "SnapStart's runtime hooks: only in Lambda's Python runtimes, so tried, not required"
    ),
    ("notify_bindings.dependencies", "botocore.session"): (
        "botocore's session, loaded when a first client is made"
    ),
    ("notify_bindings.dependencies", "notify_bindings.dal.bindings.store"): (
        "the binding store: the Service and authorizer functions never load it"
    ),
    ("notify_bindings.dependencies", "notify_bindings.dal.services"): (
        "the Service store: the authorizer never loads it"
    ),
    ("notify_bindings.dependencies", "notify_bindings.dal.accounts"): (
        "the account store: only the authorizer loads it"
    ),
    ("notify_bindings.dependencies", "notify_bindings.dal.notifications"): (
        "the notification store: only the notification functions load it"
    ),
    ("notify_bindings.dependencies", "notify_bindings.dal.sealing"): (
        "envelope encryption (and cryptography): only what seals or opens secrets loads it"
    ),
    ("notify_bindings.dependencies", "notify_bindings.dal.credentials"): (
        "the credential store: only the Credential (and delivering) functions load it"
    ),
    ("notify_bindings.dal.credentials", "notify_bindings.dal.credential_material"): (
        "the parsers of credential material (cryptography): only open() needs them"
    ),
    ("notify_bindings.operations.credentials", "notify_bindings.dal.credential_material"): (
        "the parsers of credential material (cryptography): only create and update check it"
    ),
    ("notify_bindings.dependencies", "notify_bindings.api.auth"): (
        "the authenticator: only the authorizer loads it"
    ),
    ("notify_bindings.dependencies", "notify_bindings.dal.secrets"): (
        "the page-token secret's reader: only the list functions, which sign tokens, load it"
    ),
    ("notify_bindings.dependencies", "notify_bindings.operations.sending"): (
        "the providers' clients (httpx, h2, PyJWT): only the delivering function loads them"
    ),
    ("notify_bindings.dependencies", "notify_bindings.operations.callbacks"): (
        "the delivery callbacks: only the delivering function loads them"
    ),
    ("notify_bindings.dependencies", "notify_bindings.providers.webhooks"): (
        "the callbacks' poster (httpx): only the delivering function loads it"
    ),
    ("notify_bindings.providers._transport", "certifi"): (
        "the CA bundle, read once a process, when its shared TLS context is first made"
    ),
}
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 50  # its statements, from the first after its docstring to its end
MAX_HANDLER_LINES = 15


@dataclass(frozen=True)
class Import:
    importer: str  # the importing module, dotted
    module: str  # the module imported, dotted (a package's module for `from pkg import mod`)
    line: int
    deferred: bool  # inside a function
    type_checking: bool  # under `if TYPE_CHECKING:`


def layer_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((LAYER / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(LAYER).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def function_modules() -> dict[str, Path]:
    return {f"functions.{path.parent.name}": path for path in sorted(FUNCTIONS.glob("*/app.py"))}


MODULES = layer_modules()
HANDLERS = function_modules()


def imports_of(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node, deferred, type_checking in _walk(tree, False, False):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, deferred, type_checking)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                target = candidate if candidate in MODULES else node.module
                yield Import(module, target, node.lineno, deferred, type_checking)


def _walk(
    node: ast.AST, deferred: bool, type_checking: bool
) -> Iterator[tuple[ast.AST, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, deferred, type_checking
        inner_deferred = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        inner_checking = type_checking or (
            isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
        )
        yield from _walk(child, inner_deferred, inner_checking)


IMPORTS = [i for m, p in {**MODULES, **HANDLERS}.items() for i in imports_of(m, p)]


def package_of(module: str) -> str:
    """The package whose rules a module of the layer (or a function) follows."""
    if module.startswith("functions."):
        return "functions"
    inner = module.removeprefix(f"{PACKAGE}.")
    for package in sorted(OURS_ALLOWED, key=len, reverse=True):
        if inner == package or inner.startswith(f"{package}."):
            return package
    return inner


def test_every_module_of_the_layer_belongs_to_a_package_with_rules():
    orphans = [m for m in MODULES if m != PACKAGE and package_of(m) not in OURS_ALLOWED]

    assert orphans == []


def test_every_package_init_is_empty_so_that_importing_a_module_loads_no_other():
    assert [
        m for m, path in MODULES.items() if path.name == "__init__.py" and path.read_text()
    ] == []


def test_each_package_imports_only_the_packages_below_it():
    wrong = [
        f"{found.importer}:{found.line} imports {found.module}"
        for found in IMPORTS
        if found.module.startswith(f"{PACKAGE}.")
        and (found.importer, found.module) not in DEFERRED_IMPORTS
        and not _within(package_of(found.module), OURS_ALLOWED[package_of(found.importer)])
    ]

    assert wrong == []


def _within(package: str, allowed: set[str]) -> bool:
    """Whether `package` is one of `allowed` or inside one (api.requests is inside api)."""
    return any(package == name or package.startswith(f"{name}.") for name in allowed)


def test_each_package_uses_only_the_libraries_its_concern_needs():
    stdlib = sys.stdlib_module_names
    wrong = []
    for found in IMPORTS:
        top = found.module.split(".")[0]
        if top in (PACKAGE, "__future__") or top in stdlib:
            continue
        if (found.importer, found.module) in DEFERRED_IMPORTS:
            continue
        if top not in THIRD_PARTY_ALLOWED[package_of(found.importer)]:
            wrong.append(f"{found.importer}:{found.line} imports {found.module}")

    assert wrong == []


def test_no_import_is_hidden_in_a_function_or_under_type_checking_but_the_deferred_ones():
    hidden = {
        (found.importer, found.module): found.line
        for found in IMPORTS
        if found.deferred or found.type_checking
    }
    unexplained = sorted(
        f"{module}:{line} imports {target}"
        for (module, target), line in hidden.items()
        if (module, target) not in DEFERRED_IMPORTS
    )
    # And the list names no import that is no longer made.
    deferred = {(found.importer, found.module) for found in IMPORTS if found.deferred}

    assert unexplained == []
    assert set(DEFERRED_IMPORTS) <= deferred


def test_no_module_of_the_layer_takes_part_in_an_import_cycle():
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for found in IMPORTS:
        if found.importer in graph and found.module in graph:
            graph[found.importer].add(found.module)

    assert _cycles(graph) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _definitions(path: Path) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node


def _statement_lines(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    """Its lines from the first statement after its docstring to its end."""
    body = node.body
    if ast.get_docstring(node) is not None and len(body) > 1:
        body = body[1:]
    return (node.end_lineno or node.lineno) - body[0].lineno + 1


def test_no_class_of_the_layer_is_longer_than_a_few_hundred_lines():
    long = [
        f"{module}.{node.name}: {(node.end_lineno or 0) - node.lineno + 1} lines"
        for module, path in MODULES.items()
        for node in _definitions(path)
        if isinstance(node, ast.ClassDef)
        and (node.end_lineno or 0) - node.lineno + 1 > MAX_CLASS_LINES
    ]

    assert long == []


def test_no_function_of_the_layer_is_longer_than_a_screen():
    long = [
        f"{module}.{node.name}: {_statement_lines(node)} lines"
        for module, path in MODULES.items()
        for node in _definitions(path)
        if not isinstance(node, ast.ClassDef) and _statement_lines(node) > MAX_FUNCTION_LINES
    ]

    assert long == []


@pytest.mark.parametrize("module", sorted(HANDLERS))
def test_each_api_handler_is_a_few_lines(module):
    handlers = [
        node
        for node in _definitions(HANDLERS[module])
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(decorator) == "api_handler" for decorator in node.decorator_list)
    ]

    assert all(_statement_lines(handler) <= MAX_HANDLER_LINES for handler in handlers)
