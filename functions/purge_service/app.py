"""SQS: purge the bindings of deleted Services, handing what is left on to a new message."""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from notify_bindings.operations.purge import continue_purge
from notify_bindings.platform.observability import logger

processor = BatchProcessor(event_type=EventType.SQS)


def purge(record: SQSRecord, lambda_context: Any) -> None:
    continue_purge(record.body, lambda: lambda_context.get_remaining_time_in_millis() / 1000)


@logger.inject_lambda_context(log_event=False)  # never log messages, whatever the settings
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=purge, processor=processor, context=context
    )
