"""The "model-based test" section of pytest's closing summary: each run's steps, sequences,
time and the operations it saw (tests/summaries.py)."""

from __future__ import annotations

from tests.summaries import Lines

MODEL_RUNS = Lines("model-based test")
