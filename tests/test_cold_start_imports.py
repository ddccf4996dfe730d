"""What each function loads at cold start: only what its requests use.

Each function's handler is imported in a fresh interpreter, as Lambda imports it (the layer on
the path, the function's code directory as the working directory, the template's environment),
and then builds its settings and the AWS clients its policies allow, as its first request does.
How long that takes is measured by `bench/cold_start.py`, not here; this checks which modules
it loaded, so that a heavy import coming back fails CI:

- boto3 (and s3transfer, which boto3 imports) is never loaded: clients come from botocore;
- the authorizer loads neither pydantic nor the binding and service models and stores;
- the functions that validate nothing a client sends (the stream's readers, the purge) load no
  pydantic: the domain, the operations and the data access are plain Python;
- a function loads only the request and resource models it uses: pydantic builds every model
  of a module as the module is imported, so another function's models cost a cold start time;
- only the functions that deliver notifications load the delivery libraries (httpx, h2, PyJWT,
  cryptography) and `notify_bindings.providers`: over 100 ms of cold start for the others;
- only the list functions, which sign and check page tokens, create a Secrets Manager client
  and load the module that reads the page-token secret (a first list request reads it once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local_api.runtime import LocalFunctions
from local_api.template import Function, SamTemplate

FUNCTIONS = sorted(SamTemplate.load().functions)
BINDING_FUNCTIONS = {
    "CreateBindingFunction",
    "FetchBindingFunction",
    "ListBindingsFunction",
    "ListUserBindingsFunction",
}
SERVICE_FUNCTIONS = {
    "CreateServiceFunction",
    "FetchServiceFunction",
    "ListServicesFunction",
    "UpdateServiceFunction",
}
# Modules of models that only some functions use, and the functions that use them: what a
# client sends (api/requests/) and Twilio's JSON (api/responses/), one module per resource.
MODEL_MODULES = {
    "notify_bindings.api.requests.bindings": {"CreateBindingFunction"},
    "notify_bindings.api.requests.binding_lists": {
        "ListBindingsFunction",
        "ListUserBindingsFunction",
    },
    "notify_bindings.api.requests.services": {"CreateServiceFunction", "UpdateServiceFunction"},
    "notify_bindings.api.requests.service_lists": {"ListServicesFunction"},
    "notify_bindings.api.requests.users": {
        "DeleteUserFunction",
        "FetchUserFunction",
        "ListUserBindingsFunction",
        "ListUsersFunction",
    },
    "notify_bindings.api.requests.dead_tokens": {
        "ReportDeadTokenFunction",
        "ReportDeadTokensFunction",
    },
    "notify_bindings.api.responses.bindings": BINDING_FUNCTIONS,
    "notify_bindings.api.responses.services": SERVICE_FUNCTIONS,
    "notify_bindings.api.responses.users": {"FetchUserFunction", "ListUsersFunction"},
    "notify_bindings.api.responses.dead_tokens": {"ReportDeadTokenFunction"},
}
# The functions that validate nothing a client sends: they need no pydantic at all.
STREAM_AND_PURGE_FUNCTIONS = {
    "ForgetExpiredFunction",
    "PublishChangesFunction",
    "PurgeServiceFunction",
}
# The functions that send to APNs, FCM or Twilio: only they may load the delivery libraries.
DELIVERING_FUNCTIONS: set[str] = set()
DELIVERY_LIBRARIES = ("httpx", "httpcore", "h2", "hpack", "jwt", "cryptography")

# The functions that sign and check page tokens: only they read the page-token secret.
SECRET_READING_FUNCTIONS = {
    "ListBindingsFunction",
    "ListCredentialsFunction",
    "ListServicesFunction",
    "ListUserBindingsFunction",
    "ListUsersFunction",
}
SECRET_READER = "notify_bindings.dal.secrets"

# Prints the modules loaded once the handler is imported and its clients created (for a
# function that may read the page-token secret, its reader too: the read itself is a request).
_LOAD = """
import json, sys
import {module}
from notify_bindings import dependencies
dependencies.settings()
{clients}
print(json.dumps(sorted(sys.modules)))
"""


def _clients(function: Function) -> list[str]:
    actions = json.dumps(function.policies)
    return [
        service for service in ("dynamodb", "sqs", "secretsmanager") if f'"{service}:' in actions
    ]


def _secret_reader(function: Function) -> list[str]:
    return [f"import {SECRET_READER}"] if "secretsmanager" in _clients(function) else []


def _loaded(function: Function, environment: dict[str, str]) -> set[str]:
    code = _LOAD.format(
        module=function.handler.rsplit(".", 1)[0],
        clients="\n".join(
            [
                *(f"dependencies.{client}()" for client in _clients(function)),
                *_secret_reader(function),
            ]
        ),
    )
    finished = subprocess.run(
        [sys.executable, "-c", code],
        cwd=function.code_dir,
        env={
            **os.environ,
            **environment,
            "PYTHONPATH": os.pathsep.join(str(layer) for layer in function.layer_dirs),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    return set(json.loads(finished.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def loaded(template: SamTemplate, functions: LocalFunctions) -> Iterator[dict[str, set[str]]]:
    """The modules each function loads, from fresh interpreters started side by side."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        found = pool.map(
            lambda name: _loaded(template.functions[name], functions.environment), FUNCTIONS
        )
        yield dict(zip(FUNCTIONS, found, strict=True))


def _packages(modules: set[str], *names: str) -> set[str]:
    return {m for m in modules if m.split(".")[0] in names or m in names}


def _ours(modules: set[str], *packages: str) -> set[str]:
    """The modules of these packages of the layer (`domain`, `api.requests`, ...)."""
    prefixes = tuple(f"notify_bindings.{package}" for package in packages)
    return {m for m in modules if m.startswith(prefixes)}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_given_a_function_when_its_handler_is_loaded_and_clients_created_then_boto3_is_not(
    name: str, loaded: dict[str, Any]
) -> None:
    assert "notify_bindings.dependencies" in loaded[name]
    assert not _packages(loaded[name], "boto3", "s3transfer")


def test_given_the_authorizer_when_loaded_then_neither_pydantic_nor_the_resources_are(
    loaded: dict[str, Any],
) -> None:
    modules = loaded["AuthorizerFunction"]

    assert "notify_bindings.dependencies" in modules
    assert not _packages(modules, "pydantic", "pydantic_core")
    assert not _ours(modules, "domain", "operations", "api.requests", "api.responses")
    assert not modules & {"notify_bindings.dal.bindings.store", "notify_bindings.dal.services"}


@pytest.mark.parametrize("name", sorted(STREAM_AND_PURGE_FUNCTIONS))
def test_given_a_function_that_validates_nothing_a_client_sends_then_it_loads_no_pydantic(
    name: str, loaded: dict[str, Any]
) -> None:
    modules = loaded[name]

    assert "notify_bindings.dependencies" in modules
    assert not _packages(modules, "pydantic", "pydantic_core")
    assert not _ours(modules, "api")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_given_a_function_when_loaded_then_it_builds_only_the_models_it_uses(
    name: str, loaded: dict[str, Any]
) -> None:
    models = {module for module in MODEL_MODULES if module in loaded[name]}

    assert models == {module for module, users in MODEL_MODULES.items() if name in users}


@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) - DELIVERING_FUNCTIONS))
def test_given_a_function_that_does_not_deliver_when_loaded_then_no_delivery_library_is(
    name: str, loaded: dict[str, Any]
) -> None:
    modules = loaded[name]

    assert "notify_bindings.dependencies" in modules
    assert not _packages(modules, *DELIVERY_LIBRARIES)
    assert not {m for m in modules if m.startswith("notify_bindings.providers")}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_given_a_function_when_loaded_then_only_the_lists_load_the_page_token_secrets_reader(
    name: str, loaded: dict[str, Any]
) -> None:
    modules = loaded[name]

    assert "notify_bindings.dependencies" in modules
    assert (SECRET_READER in modules) == (name in SECRET_READING_FUNCTIONS)
