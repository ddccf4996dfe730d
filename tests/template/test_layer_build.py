"""The shared layer's Makefile (template.yaml: BuildMethod makefile), which `sam build` runs.

Its defaults must build what the template deploys (the runtime's Python, the functions'
architecture), and what it builds must load from byte-code alone: a layer is read-only on
Lambda, so a module without a usable .pyc is compiled again at every cold start.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.layer_build import LAYER_MAKEFILE, build_layer

# pip's platform tag of each Lambda architecture's wheels.
WHEEL_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
# The second word of a .pyc header: 0b01 = hash-based, not checked against its source.
UNCHECKED_HASH = 0b01


def makefile_defaults(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+) \?= (.*)$", text, flags=re.MULTILINE))


def makefile_problems(text: str, layer_id: str, runtime: str, architecture: str) -> list[str]:
    """What in the Makefile's `text` disagrees with the template's layer."""
    problems = []
    defaults = makefile_defaults(text)
    if not re.search(rf"^build-{layer_id}:", text, flags=re.MULTILINE):
        problems.append(f"no build-{layer_id} target")
    if defaults.get("PYTHON") != runtime:
        problems.append(f"PYTHON defaults to {defaults.get('PYTHON')}, not {runtime}")
    if defaults.get("WHEELS") != f"--platform {WHEEL_PLATFORMS[architecture]}":
        problems.append(f"WHEELS {defaults.get('WHEELS')!r} are not {architecture}'s")
    if "--invalidation-mode unchecked-hash" not in text:
        problems.append("byte-code is checked against sources a zip does not date exactly")
    return problems


@pytest.fixture(scope="module")
def layer_facts(sam_document) -> tuple[str, str, str]:
    """The layer's logical id, and the runtime and architecture the functions share."""
    (layer_id,) = (
        name
        for name, resource in sam_document["Resources"].items()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    )
    functions = sam_document["Globals"]["Function"]
    (architecture,) = functions["Architectures"]
    return layer_id, functions["Runtime"], architecture


def test_the_layer_makefile_defaults_build_for_the_runtime_and_architecture(layer_facts):
    assert makefile_problems(LAYER_MAKEFILE.read_text(), *layer_facts) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("PYTHON ?= python3.13", "PYTHON ?= python3"), "PYTHON defaults"),
        (("manylinux2014_aarch64", "manylinux2014_x86_64"), "WHEELS"),
        (("build-BindingsLayer:", "build-Layer:"), "no build-"),
        (("unchecked-hash", "checked-hash"), "byte-code is checked"),
    ],
)
def test_given_a_makefile_that_disagrees_with_the_template_then_the_check_names_it(
    layer_facts, change, problem
):
    broken = LAYER_MAKEFILE.read_text().replace(*change)

    assert any(problem in found for found in makefile_problems(broken, *layer_facts))


@pytest.fixture(scope="module")
def built_layer(tmp_path_factory) -> Path:
    """The layer as the Makefile builds it, with this Python and this machine's wheels (pip
    installs them: the tests that build it are `make audit`'s, beside `sam build`)."""
    return build_layer(tmp_path_factory.mktemp("layer"))


@pytest.mark.audit
def test_every_module_of_the_built_layer_has_unchecked_byte_code(built_layer):
    sources = sorted(built_layer.rglob("*.py"))
    assert len(sources) > 500  # botocore, pydantic, Powertools and the package

    missing, checked = [], []
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists():
            missing.append(source)
        elif int.from_bytes(cached.read_bytes()[4:8], "little") != UNCHECKED_HASH:
            checked.append(source)

    assert missing == []
    assert checked == []


# Modules that between them import every package of the layer.
LOADED = (
    "notify_bindings.api.handler",
    "notify_bindings.api.requests.bindings",
    "notify_bindings.operations.changes",
)


@pytest.mark.audit
def test_the_built_layer_loads_from_its_byte_code_alone(built_layer):
    # Sources that cannot run: the import succeeds only if Python never compiles them.
    for source in (built_layer / "notify_bindings").rglob("*.py"):
        source.write_text("raise SystemExit('compiled from source')\n")

    loaded = subprocess.run(
        [sys.executable, "-c", f"import {', '.join(LOADED)}"],
        env={"PYTHONPATH": str(built_layer), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert loaded.returncode == 0, loaded.stderr
