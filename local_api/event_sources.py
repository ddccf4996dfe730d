"""Lambda's SQS event source mappings, locally: one thread per function and queue that
receives batches, invokes the function with them, and deletes what it processed.

When a message comes back is moto's visibility alone, as in SQS: the poller keeps no notion of
its own, so a function that changes a message's visibility (ChangeMessageVisibility, as the
delivering function does for a batch's rest) is answered as SQS would answer it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from local_api.events import sqs_event
from local_api.polling import PollingThread
from local_api.runtime import LocalFunctions, LocalQueue
from local_api.template import SqsEventSource

log = logging.getLogger("local_api.sqs")

# SQS hands out at most 10 messages a receive; Lambda gathers larger batches over a window.
# Receives are short polls (see local_api.polling).
_MAX_RECEIVE = 10


def processed_records(
    records: Sequence[Mapping[str, Any]], response: Any, report_batch_item_failures: bool
) -> list[Mapping[str, Any]]:
    """The records of a batch that Lambda deletes after the function returned `response`.

    Without ReportBatchItemFailures a returned invocation is a success. With it, the records
    named in `batchItemFailures` stay; a failure without an itemIdentifier of the batch (empty,
    null, unknown), or a response that is not an object, fails the whole batch, as in Lambda.
    """
    if not report_batch_item_failures or response is None:
        return list(records)
    failures = (response.get("batchItemFailures") or []) if isinstance(response, dict) else None
    if not isinstance(failures, list):
        return []
    ids = {record["messageId"] for record in records}
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in ids:
            return []
        failed.add(identifier)
    return [record for record in records if record["messageId"] not in failed]


class SqsPoller(PollingThread):
    """What one event source mapping does: poll, invoke, delete."""

    def __init__(
        self,
        functions: LocalFunctions,
        function: str,
        source: SqsEventSource,
        queue: LocalQueue,
        client: Any,
    ) -> None:
        self.functions = functions
        self.function = function
        self.source = source
        self.queue = queue
        self.client = client
        super().__init__(f"sqs-{queue.logical_id}-{function}")

    def poll_once(self) -> int:
        """Receive one batch, invoke the function with it, delete what it processed; returns
        the number of messages received."""
        messages = self.client.receive_message(
            QueueUrl=self.queue.url,
            MaxNumberOfMessages=min(self.source.batch_size, _MAX_RECEIVE),
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = sqs_event(messages, self.queue.arn)
        try:
            response = self.functions.invoke(self.function, event)
        except Exception:  # Lambda's retry: the batch comes back after the visibility timeout
            log.exception("%s failed on a batch of %d", self.function, len(messages))
            return len(messages)
        done = processed_records(event["Records"], response, self.source.report_batch_item_failures)
        if done:
            self.client.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {"Id": str(number), "ReceiptHandle": record["receiptHandle"]}
                    for number, record in enumerate(done)
                ],
            )
        return len(messages)


def start_pollers(
    functions: LocalFunctions, queues: Mapping[str, LocalQueue], client: Any
) -> list[SqsPoller]:
    """A running poller for every SQS event source of the template's functions."""
    pollers = [
        SqsPoller(functions, function.logical_id, source, queues[source.queue], client)
        for function in functions.functions.values()
        for source in function.sqs_sources
    ]
    for poller in pollers:
        poller.start()
    return pollers
