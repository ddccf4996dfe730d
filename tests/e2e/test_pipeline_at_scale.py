"""One notification to 10,000 bindings, end to end through the local pipeline: every binding
receives exactly one request at its stand-in, and the notification's counts and the delivery
callbacks say exactly that.

`make test-scale` runs it (it is marked `scale`, which `make test` leaves out: a few minutes).
The pipeline is bench/end_to_end.py's: everything `make run` serves, in this process, driven
through the API, the official twilio client and the stand-ins' control API; the bindings are
written straight into the tables (the test is about sending them a notification).
NOTIFY_E2E_RECIPIENTS=N sends to N bindings instead.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from bench import end_to_end

RECIPIENTS = int(os.environ.get("NOTIFY_E2E_RECIPIENTS", "10000"))

pytestmark = [pytest.mark.scale, pytest.mark.slow]


def test_given_a_notification_to_a_tag_of_10000_bindings_then_each_receives_exactly_one_request_and_the_counts_are_exact():  # noqa: E501
    with end_to_end.running_pipeline() as pipeline:
        run = end_to_end.run_once(
            pipeline, RECIPIENTS, faults=0.0, seed=end_to_end.SEED, callbacks=True
        )

    received: Counter[str] = Counter()
    for channel in end_to_end.CHANNELS:
        received.update(run.accepted[channel])
    # Each channel had its share, and its stand-in received what its bindings hold.
    assert all(run.accepted[channel] for channel in end_to_end.CHANNELS)
    assert set(received) == set(run.bindings.values())  # none missing, none stray
    assert set(received.values()) == {1}  # none twice
    assert run.deliveries == {
        "total": RECIPIENTS,
        "sent": RECIPIENTS,
        "failed": 0,
        "pending": 0,
        "dead_bindings_removed": 0,
    }
    reported = Counter((state["binding_sid"], state["status"]) for state in run.states)
    assert reported == Counter({(sid, "SENT"): 1 for sid in run.bindings})
