"""DynamoDB Streams (the bindings table): publish every change of a binding to EventBridge."""

from functools import cache
from typing import Any

from notify_bindings import dependencies
from notify_bindings.operations.changes import publish
from notify_bindings.platform.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)  # never log records: they hold addresses
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bus_name = dependencies.settings().change_event_bus_name
    if bus_name is None:
        raise RuntimeError("CHANGE_EVENT_BUS_NAME is not set: there is no bus to publish to")
    services = dependencies.service_store()

    @cache  # a purge removes many bindings of one Service: read it once a batch
    def service_gone(account_sid: str, service_sid: str) -> bool:
        return services.get(account_sid, service_sid) is None

    published = publish(
        event.get("Records", []),
        store=dependencies.binding_store(),
        put_events=dependencies.events().put_events,
        bus_name=bus_name,
        service_gone=service_gone,
    )
    metrics.add_metric(name="ChangeEventsPublished", unit="Count", value=published.events)
    return published.response()
