"""The shared layer built as `sam build` builds it: by layers/notify_bindings/Makefile.

Benchmarks build it here to weigh it and to load it as Lambda does (byte-code and all). The
Makefile's defaults are the deployed layer's (python3.13, arm64 wheels); `python` and `wheels`
choose others, e.g. this machine's wheels for a layer that this machine can load.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from local_api.template import PROJECT_ROOT

LAYER_MAKEFILE = PROJECT_ROOT / "layers" / "notify_bindings" / "Makefile"
# pip's options for the wheels of the deployed layer, whichever Python runs pip.
LAMBDA_WHEELS = "--platform manylinux2014_aarch64 --python-version 3.13 --implementation cp"


class LayerBuildFailed(RuntimeError):
    """The Makefile failed; the message ends with its output."""


def build_layer(artifacts: Path, python: str = sys.executable, wheels: str = "") -> Path:
    """Runs the layer's Makefile into `artifacts` (as sam build's ARTIFACTS_DIR) with `python`
    and pip's `wheels` options; returns the directory Lambda puts on sys.path (python/)."""
    finished = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-f",
            str(LAYER_MAKEFILE),
            "build-BindingsLayer",
            f"ARTIFACTS_DIR={artifacts}",
            f"PYTHON={python}",
            f"WHEELS={wheels}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise LayerBuildFailed(f"the layer's Makefile failed:\n{finished.stderr[-2000:]}")
    return artifacts / "python"


def without_bytecode(layer: Path, into: Path) -> Path:
    """A copy of `layer` without its byte-code: the layer as BuildMethod python3.13 ships it."""
    shutil.copytree(layer, into, ignore=shutil.ignore_patterns("__pycache__"))
    return into
