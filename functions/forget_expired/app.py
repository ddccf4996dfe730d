"""DynamoDB Streams (the bindings table, TTL's deletes only): remove what still indexes and
counts each binding DynamoDB's TTL deleted."""

from typing import Any

from notify_bindings import dependencies
from notify_bindings.operations.expiry import forget_expired
from notify_bindings.platform.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)  # never log records: they hold addresses
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = forget_expired(event.get("Records", []), store=dependencies.binding_store())
    metrics.add_metric(name="ExpiredBindingsForgotten", unit="Count", value=outcome.forgotten)
    return outcome.response()
