"""The requirements files `make lock` writes: every package pinned with hashes (pip's hash-checking
mode installs nothing else), each .in file's pins kept in its .txt, and the layer's pins - the
same versions, the same files - among the tests' pins, so that what is tested is what ships."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "notify_bindings"
LOCKED = {
    LAYER / "requirements.in": LAYER / "requirements.txt",
    ROOT / "requirements-dev.in": ROOT / "requirements-dev.txt",
    ROOT / "requirements-tools.in": ROOT / "requirements-tools.txt",
    ROOT / "requirements-bench.in": ROOT / "requirements-bench.txt",
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)$")
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")

Pins = dict[str, tuple[str, frozenset[str]]]  # name -> (version, hashes)


def statements(text: str) -> list[str]:
    """The requirement lines of a requirements file: comments gone, continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    lines = (line.split(" #")[0].strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def locked_pins(path: Path) -> Pins:
    pins: Pins = {}
    for statement in statements(path.read_text()):
        requirement, *options = statement.split()
        match = _PIN.match(requirement)
        assert match is not None, f"{path.name}: not pinned with ==: {statement}"
        hashes = frozenset(options)
        assert hashes, f"{path.name}: {requirement} has no hash"
        assert all(_HASH.match(option) for option in hashes), f"{path.name}: {statement}"
        pins[canonicalize_name(match[1])] = (match[3], hashes)
    return pins


def wanted_pins(path: Path) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for statement in statements(path.read_text()):
        if statement.startswith(("-r ", "-c ")):
            continue
        match = _PIN.match(statement)
        assert match is not None, f"{path.name}: pin with ==: {statement}"
        wanted[canonicalize_name(match[1])] = match[3]
    return wanted


@pytest.mark.parametrize("source", LOCKED, ids=lambda path: path.name)
def test_given_a_locked_file_then_every_package_is_pinned_with_hashes_and_the_in_files_pins_kept(
    source,
):
    locked = locked_pins(LOCKED[source])

    assert locked
    for name, version in wanted_pins(source).items():
        assert locked.get(name, ("missing",))[0] == version, name


def test_given_the_layers_pins_then_the_tests_install_the_same_versions_of_the_same_files():
    layer, tests = (
        locked_pins(LAYER / "requirements.txt"),
        locked_pins(ROOT / "requirements-dev.txt"),
    )

    assert {name: tests.get(name) for name in layer} == layer


def test_given_the_bench_pins_then_they_install_the_same_files_as_the_tests_where_shared():
    # requirements-bench.txt is resolved under the constraint of requirements-dev.txt: both
    # install into .venv, so a package they share must be the same version and files.
    bench, tests = (
        locked_pins(ROOT / "requirements-bench.txt"),
        locked_pins(ROOT / "requirements-dev.txt"),
    )

    shared = set(bench) & set(tests)
    assert "matplotlib" in bench
    assert shared
    assert {name: bench[name] for name in shared} == {name: tests[name] for name in shared}


def test_given_a_file_without_hashes_then_the_check_notices(tmp_path):
    # Shows that the check above reads the files for real: one pin without its hashes.
    text = (LAYER / "requirements.txt").read_text()
    broken = re.sub(r"(?m)^(six==\S+) \\\n(    --hash=\S+ \\\n)*    --hash=\S+$", r"\1", text)
    assert broken != text
    path = tmp_path / "requirements.txt"
    path.write_text(broken)

    with pytest.raises(AssertionError, match=r"six==.* has no hash"):
        locked_pins(path)
