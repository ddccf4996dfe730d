"""NotificationsTable (AccountSid, Sid): each notification, with its delivery counts, and a
progress record per delivery batch (Sid `NT...#<sequence>`).

Keyed by account, like the Services: another account's notification is simply absent. Every
item expires with the notification (`ExpiresAt`, DynamoDB's TTL): RETENTION_DAYS after it was
created, it is gone (docs/operations.md).

Writes grow with batches, not recipients:
- resolution: one UpdateItem per page whose batches are queued (ADD Total, the next batch
  sequence; `Resolved` with the last page), conditioned on the sequence it started from, so a
  retried page counts nothing twice;
- delivery: one conditional PutItem claiming the batch (a lease the length of the delivering
  function's timeout), then one transaction recording the batch's outcome (the recipients done
  so far, by position) and adding its counts to the notification (docs/architecture.md, the
  guarantee);
- callbacks: one UpdateItem per callback for its SequenceId (and the counts, read back).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import NamedTuple

from botocore.exceptions import ClientError

from notify_bindings.dal.dynamo import (
    Cancelled,
    DynamoDBClient,
    Item,
    Transaction,
    translated_errors,
)
from notify_bindings.domain.bindings import BindingType
from notify_bindings.domain.notifications import (
    DeliveryCounts,
    DirectAddress,
    Notification,
    Priority,
)

RETENTION_DAYS = 30
_MESSAGE_FIELDS = (
    "identities", "tags", "segments", "priority", "ttl", "title", "body", "sound", "action",
    "data", "apn", "fcm", "gcm", "sms", "facebook_messenger", "alexa", "delivery_callback_url",
)  # fmt: skip


def notification_key(account_sid: str, sid: str) -> Item:
    return {"AccountSid": {"S": account_sid}, "Sid": {"S": sid}}


def batch_key(account_sid: str, sid: str, sequence: int) -> Item:
    return {"AccountSid": {"S": account_sid}, "Sid": {"S": f"{sid}#{sequence:08d}"}}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


class Claim(NamedTuple):
    """A batch taken by one delivering function: the positions of its recipients done already
    (by an earlier function that ran out of time), or None when another holds its lease, or it
    is done."""

    done: frozenset[int]


class Lease(NamedTuple):
    """A batch another function claimed: whether it has finished, and else the time (seconds
    since the epoch) its holder's lease ends - when a copy of its message may take it."""

    finished: bool
    until: float


class Tally(NamedTuple):
    """The counts a callback reports with, and its SequenceId."""

    counts: DeliveryCounts
    sequence: int


def counts_from(item: Item) -> DeliveryCounts:
    def number(name: str) -> int:
        return int(item.get(name, {}).get("N", "0"))

    return DeliveryCounts(
        total=number("Total"),
        sent=number("Sent"),
        failed=number("Failed"),
        dead_bindings_removed=number("Dead"),
        resolved=item.get("Resolved", {}).get("BOOL", False),
    )


def notification_item(notification: Notification) -> Item:
    message = {name: getattr(notification, name) for name in _MESSAGE_FIELDS}
    message["to_bindings"] = [
        {"binding_type": to.binding_type.value, "address": to.address}
        for to in notification.to_bindings
    ]
    expires = notification.date_created + timedelta(days=RETENTION_DAYS)
    return {
        **notification_key(notification.account_sid, notification.sid),
        "ServiceSid": {"S": notification.service_sid},
        "DateCreated": {"S": notification.date_created.isoformat()},
        "Message": {"S": json.dumps(message, separators=(",", ":"))},
        "Total": _n(0),
        "Sent": _n(0),
        "Failed": _n(0),
        "Dead": _n(0),
        "NextSequence": _n(0),
        "Resolved": {"BOOL": False},
        "ExpiresAt": _n(int(expires.timestamp())),
    }


def notification_from(item: Item) -> Notification:
    message = json.loads(item["Message"]["S"])
    to_bindings = tuple(
        DirectAddress(BindingType(to["binding_type"]), to["address"])
        for to in message.pop("to_bindings")
    )
    for name in ("identities", "tags", "segments"):
        message[name] = tuple(message[name])
    message["priority"] = Priority(message["priority"])
    return Notification(
        sid=item["Sid"]["S"],
        account_sid=item["AccountSid"]["S"],
        service_sid=item["ServiceSid"]["S"],
        date_created=datetime.fromisoformat(item["DateCreated"]["S"]),
        to_bindings=to_bindings,
        **message,
    )


class NotificationStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def create(self, notification: Notification) -> None:
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=notification_item(notification),
                ConditionExpression="attribute_not_exists(Sid)",
            )

    def get(
        self, account_sid: str, service_sid: str, sid: str
    ) -> tuple[Notification, DeliveryCounts] | None:
        """The notification and its counts (strongly consistent), if the Service's."""
        with translated_errors():
            item = self._client.get_item(
                TableName=self._table, Key=notification_key(account_sid, sid), ConsistentRead=True
            ).get("Item")
        if item is None or "Message" not in item or item["ServiceSid"]["S"] != service_sid:
            return None
        return notification_from(item), counts_from(item)

    def delete(self, account_sid: str, sid: str) -> None:
        """Undo a create whose resolution could not be queued."""
        with translated_errors():
            self._client.delete_item(TableName=self._table, Key=notification_key(account_sid, sid))

    # -- resolution --------------------------------------------------------------------

    def queued(
        self, account_sid: str, sid: str, start: int, batches: int, recipients: int, last: bool
    ) -> bool:
        """Count `recipients` in `batches` queued from sequence `start` (and, with `last`,
        resolution done); False when this page was counted already (a retried task)."""
        update = "SET NextSequence = :next ADD #total :total"
        values: Item = {":start": _n(start), ":next": _n(start + batches), ":total": _n(recipients)}
        if last:
            update = "SET NextSequence = :next, Resolved = :true ADD #total :total"
            values[":true"] = {"BOOL": True}
        try:
            with translated_errors():
                self._client.update_item(
                    TableName=self._table,
                    Key=notification_key(account_sid, sid),
                    UpdateExpression=update,
                    ConditionExpression="NextSequence = :start",
                    ExpressionAttributeNames={"#total": "Total"},
                    ExpressionAttributeValues=values,
                )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    # -- delivery -------------------------------------------------------------------------

    def claim(
        self, account_sid: str, sid: str, sequence: int, now: float, lease: float
    ) -> Claim | None:
        """Take the batch for `lease` seconds; None when it is done, or another function
        holds it. The recipients an earlier holder recorded as done come back in the claim."""
        try:
            with translated_errors():
                answer = self._client.update_item(
                    TableName=self._table,
                    Key=batch_key(account_sid, sid, sequence),
                    UpdateExpression="SET LeaseUntil = :until, ExpiresAt = :expires",
                    ConditionExpression=(
                        "attribute_not_exists(Sid) OR "
                        "(attribute_not_exists(Finished) AND LeaseUntil < :now)"
                    ),
                    ExpressionAttributeValues={
                        ":until": _n(now + lease),
                        ":now": _n(now),
                        ":expires": _n(int(now) + RETENTION_DAYS * 86400),
                    },
                    ReturnValues="ALL_NEW",
                )
        except ClientError as error:
            if _condition_failed(error):
                return None
            raise
        done = answer["Attributes"].get("Done", {}).get("NS", [])
        return Claim(frozenset(int(position) for position in done))

    def lease(self, account_sid: str, sid: str, sequence: int) -> Lease:
        """Whether the batch has finished, and else until when another function holds it."""
        with translated_errors():
            item = self._client.get_item(
                TableName=self._table,
                Key=batch_key(account_sid, sid, sequence),
                ConsistentRead=True,
                ProjectionExpression="Finished, LeaseUntil",
            ).get("Item", {})
        return Lease(
            finished=item.get("Finished", {}).get("BOOL") is True,
            until=float(item.get("LeaseUntil", {}).get("N", "0")),
        )

    def record(
        self,
        account_sid: str,
        sid: str,
        sequence: int,
        done: frozenset[int],
        counts: DeliveryCounts,
        finished: bool,
    ) -> None:
        """One transaction: the batch's recipients `done` by this holder added to those done
        before (by position), or, with `finished`, the batch finished (its positions no
        longer needed: a finished batch is not claimed again); otherwise its lease released;
        and their counts added."""
        transaction = Transaction()
        update = "SET Finished = :true" if finished else "SET LeaseUntil = :zero"
        values: Item = {":true": {"BOOL": True}} if finished else {":zero": _n(0)}
        if done and not finished:
            update += " ADD Done :done"
            values[":done"] = {"NS": [str(position) for position in sorted(done)]}
        transaction.add(
            "Update",
            self._table,
            Key=batch_key(account_sid, sid, sequence),
            UpdateExpression=update,
            ConditionExpression="attribute_not_exists(Finished)",
            ExpressionAttributeValues=values,
        )
        transaction.add(
            "Update",
            self._table,
            Key=notification_key(account_sid, sid),
            UpdateExpression="ADD #sent :sent, #failed :failed, #dead :dead",
            ExpressionAttributeNames={"#sent": "Sent", "#failed": "Failed", "#dead": "Dead"},
            ExpressionAttributeValues={
                ":sent": _n(counts.sent),
                ":failed": _n(counts.failed),
                ":dead": _n(counts.dead_bindings_removed),
            },
        )
        try:
            transaction.run(self._client)
        except Cancelled as cancelled:
            if not cancelled.failed(0):
                raise
            # Finished already: by this very call, retried after an answer lost in transit.

    def tally(self, account_sid: str, sid: str) -> Tally:
        """The next callback's SequenceId (from 0) and the counts as they are now."""
        with translated_errors():
            item = self._client.update_item(
                TableName=self._table,
                Key=notification_key(account_sid, sid),
                UpdateExpression="ADD CallbackSequence :one",
                ExpressionAttributeValues={":one": _n(1)},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        return Tally(counts_from(item), int(item["CallbackSequence"]["N"]) - 1)

    def finish(self, account_sid: str, sid: str) -> bool:
        """Whether this caller is the one to report the notification final (once only)."""
        try:
            with translated_errors():
                self._client.update_item(
                    TableName=self._table,
                    Key=notification_key(account_sid, sid),
                    UpdateExpression="SET FinalReported = :true",
                    ConditionExpression="attribute_not_exists(FinalReported)",
                    ExpressionAttributeValues={":true": {"BOOL": True}},
                )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True


def _condition_failed(error: ClientError) -> bool:
    code: object = error.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"
