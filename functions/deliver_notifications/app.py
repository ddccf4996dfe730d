"""SQS: batches of a notification's recipients delivered through their channel; the batches
that failed, are claimed elsewhere or were left unfinished go back to the queue."""

from typing import Any

from notify_bindings.operations.delivery import deliver_messages, stages_for
from notify_bindings.platform import deadline
from notify_bindings.platform.observability import logger, metrics

BatchResponse = dict[str, list[dict[str, str]]]


@logger.inject_lambda_context(log_event=False)  # never log messages: they hold addresses
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> BatchResponse:
    with deadline.bounded_by(context):
        failed = deliver_messages(event.get("Records") or [], stages_for(context))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
