"""SQS: dead tokens reported in bulk - the binding at each message's address removed; the
messages DynamoDB failed for now go back to the queue (partial batch failures)."""

from typing import Any

from notify_bindings.api.dead_token_queue import report_dead_token_messages
from notify_bindings.platform import deadline
from notify_bindings.platform.observability import logger, metrics

BatchResponse = dict[str, list[dict[str, str]]]


@logger.inject_lambda_context(log_event=False)  # never log messages: they hold addresses
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> BatchResponse:
    # No DynamoDB call starts that cannot end before the timeout: the messages it would have
    # served fail at once, and come back.
    with deadline.bounded_by(context):
        failed = report_dead_token_messages(event.get("Records") or [])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
