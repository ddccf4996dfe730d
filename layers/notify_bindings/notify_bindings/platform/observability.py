"""Powertools Logger and Metrics, configured by the POWERTOOLS_* variables of the template.

Logs name resources by SID only. Addresses, identities, tags, secrets and page tokens never
reach a log line: requests are not logged (log_event is off in every handler, whatever
POWERTOOLS_LOGGER_LOG_EVENT says), failures are logged without their messages (which can echo
input), and the AWS SDK's debug logs (which hold every request's parameters) stay off even
when the root logger is at DEBUG.
"""

from __future__ import annotations

import logging
import traceback

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()

# At DEBUG these write each DynamoDB and SQS request and response, items and all, and
# Powertools' batch processing the message of each exception a record raised.
for _sdk_logger in ("boto3", "botocore", "s3transfer", "urllib3", "aws_lambda_powertools"):
    logging.getLogger(_sdk_logger).setLevel(logging.WARNING)


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def failure(error: BaseException) -> dict[str, object]:
    """What a log line may say of an unexpected exception: its type and where it was raised,
    for it and for each exception it was raised from or during - never a message."""
    chain: list[dict[str, object]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        chain.append(
            {
                "type": f"{type(current).__module__}.{type(current).__qualname__}",
                "frames": [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames],
            }
        )
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return {"error": chain}
