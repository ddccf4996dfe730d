"""A few handler tests again, on moto as released: without local_api.moto_patches, which every
other test installs, in a pytest run of its own (the conftest honours UNPATCHED_MOTO).

The patches are to change moto's cost (what a request touches, not everything stored), never
its answers. So these pass without them too, and a moto upgrade shows where the patches stand:
passing here while the patched suite fails, moto changed under the patches and they can go (at
the price of slower tests) or be mended; failing here, moto as released answers otherwise than
the handlers need, and the patched suite would be hiding it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import UNPATCHED_MOTO

HERE = Path(__file__).resolve().parent
# Creates, replaces and the identity's limit (transactions and their cancellation reasons),
# fetches and deletes, and lists (queries, filters, pages).
UNPATCHED = ("test_create_semantics.py", "test_fetch_and_delete.py", "test_list_bindings.py")


def test_given_moto_as_released_when_handler_tests_run_then_they_pass():
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0"]
        + [str(HERE / name) for name in UNPATCHED],
        cwd=HERE.parents[1],
        env={**os.environ, UNPATCHED_MOTO: "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]
    assert f"moto: unpatched ({UNPATCHED_MOTO})" in finished.stdout
    assert " passed" in finished.stdout.splitlines()[-1]
