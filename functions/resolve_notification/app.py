"""SQS: a notification's recipients resolved from the binding indexes and queued for delivery
in batches; the tasks that failed for now go back to the queue (partial batch failures)."""

from typing import Any

from notify_bindings.operations.resolution import resolve_messages
from notify_bindings.platform import deadline
from notify_bindings.platform.observability import logger, metrics

BatchResponse = dict[str, list[dict[str, str]]]


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> BatchResponse:
    with deadline.bounded_by(context):
        failed = resolve_messages(event.get("Records") or [], deadline.remaining)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
