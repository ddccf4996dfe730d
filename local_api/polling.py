"""The thread behind each of the local API's pollers (SQS and DynamoDB stream event sources,
the TTL sweeper): poll, and pause while there is nothing to do."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("local_api.polling")

# Short polls, then this pause while there is nothing new: a long poll would hold the embedded
# server's one-request-at-a-time lock (see runtime.embedded_dynamodb) for its whole wait. The
# pause doubles while nothing comes, up to MAX_IDLE_SECONDS: an idle server idles.
IDLE_SECONDS = 0.2
MAX_IDLE_SECONDS = 1.0


class PollingThread:
    """Calls `poll_once` on a daemon thread until stopped: again at once after it found work,
    after a pause (`idle_seconds`, doubling up to `max_idle_seconds`) after it found none."""

    idle_seconds = IDLE_SECONDS
    max_idle_seconds = MAX_IDLE_SECONDS

    def __init__(self, name: str) -> None:
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def poll_once(self) -> int:
        """Do one round of work; how much was done (0: nothing to do, pause)."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; a round under way finishes first (within `timeout`)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        pause = self.idle_seconds
        while not self._stopping.is_set():
            try:
                done = self.poll_once()
            except Exception:  # the server stopping, say; keep polling until told to stop
                log.exception("%s failed", self._thread.name)
                done = 0
            if done:
                pause = self.idle_seconds
            else:
                self._stopping.wait(pause)
                pause = min(pause * 2, self.max_idle_seconds)
