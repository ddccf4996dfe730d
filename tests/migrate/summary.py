"""The "export / import / migrate" section of pytest's closing summary: how long the end-to-end
test's steps took and at what rate (tests/summaries.py)."""

from __future__ import annotations

from tests.summaries import Lines

MIGRATION = Lines("export / import / migrate")
