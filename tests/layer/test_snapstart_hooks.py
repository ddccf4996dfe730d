"""SnapStart: what each execution environment restored from a snapshot does first."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable

from notify_bindings import dependencies


def _runtime_with_hooks(monkeypatch) -> list[Callable[[], object]]:
    """A stand-in for the snapshot_restore_py module of Lambda's Python runtimes."""
    registered: list[Callable[[], object]] = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_after_restore = registered.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    return registered


def test_given_the_snapstart_runtime_when_restored_then_random_is_seeded_again(monkeypatch):
    registered = _runtime_with_hooks(monkeypatch)
    dependencies.register_snapstart_hooks()
    state = random.getstate()
    try:
        for hook in registered:  # what Lambda runs in each restored environment
            hook()

        assert len(registered) == 1
        assert random.getstate() != state
    finally:
        random.setstate(state)


def test_given_no_snapstart_runtime_when_registering_then_nothing_happens(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as off Lambda

    dependencies.register_snapstart_hooks()
