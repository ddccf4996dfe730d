"""ServicesTable (AccountSid, Sid): the Services of each account.

Keying by account makes another account's Service simply absent. Deleting a Service first
marks it (`DeletedAt`): from then on it answers 404 everywhere, while its bindings are purged
in the background; the purge removes the item last.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from notify_bindings.dal.dynamo import (
    DynamoDBClient,
    Item,
    KeyRange,
    Retries,
    query_page,
    translated_errors,
    write_item,
)
from notify_bindings.domain.paging import Page, PageCursor
from notify_bindings.domain.services import SETTING_DEFAULTS, SETTINGS, Service

LIVE = "attribute_exists(Sid) AND attribute_not_exists(DeletedAt)"


def service_key(account_sid: str, service_sid: str) -> Item:
    return {"AccountSid": {"S": account_sid}, "Sid": {"S": service_sid}}


def service_from(item: Item) -> Service | None:
    """The Service an item holds; None for a Service being deleted."""
    if "DeletedAt" in item:
        return None
    settings = {name: _value(item.get(attribute)) for name, attribute in SETTINGS.items()}
    return Service(
        sid=item["Sid"]["S"],
        account_sid=item["AccountSid"]["S"],
        date_created=datetime.fromisoformat(item["DateCreated"]["S"]),
        date_updated=datetime.fromisoformat(item["DateUpdated"]["S"]),
        **{name: value for name, value in settings.items() if value is not None},
    )


class ServiceStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def create(self, service: Service) -> None:
        item = {
            **service_key(service.account_sid, service.sid),
            "DateCreated": {"S": _timestamp(service.date_created)},
            "DateUpdated": {"S": _timestamp(service.date_updated)},
        }
        item.update(
            {SETTINGS[name]: v for name, value in service.settings().items() if (v := _attr(value))}
        )
        write_item(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=item,
                # A write repeated after its answer was lost (botocore's retry) finds its own
                # Service, created at the same moment: that is no collision.
                ConditionExpression="attribute_not_exists(Sid) OR DateCreated = :created",
                ExpressionAttributeValues={":created": item["DateCreated"]},
            ),
            Retries(),
        )

    def get(self, account_sid: str, service_sid: str) -> Service | None:
        with translated_errors():
            response = self._client.get_item(
                TableName=self._table,
                Key=service_key(account_sid, service_sid),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return service_from(item) if item else None

    def list_page(
        self, account_sid: str, friendly_name: str | None, cursor: PageCursor | None, size: int
    ) -> Page[Service]:
        condition, values, names = "attribute_not_exists(DeletedAt)", {}, {}
        if friendly_name is not None:
            condition += " AND #name = :name"
            values[":name"] = {"S": friendly_name}
            names["#name"] = SETTINGS["friendly_name"]
        scope = KeyRange(
            table=self._table,
            partition=("AccountSid", account_sid),
            sort_key="Sid",
            low="IS",
            high="IT",  # every Service SID sorts between "IS" and "IT"
            filter_expression=condition,
            filter_values=values,
            filter_names=names,
        )
        return query_page(self._client, scope, cursor, size, service_from)

    def update(
        self, account_sid: str, service_sid: str, changes: dict[str, Any], now: datetime
    ) -> Service | None:
        """Apply `changes` (None clears a setting); None when there is no such Service."""
        names = {"#updated": "DateUpdated"}
        values: Item = {":updated": {"S": _timestamp(now)}}
        assignments, removals = ["#updated = :updated"], []
        for position, (name, value) in enumerate(sorted(changes.items())):
            names[f"#f{position}"] = SETTINGS[name]
            stored = _attr(value if value is not None else SETTING_DEFAULTS.get(name))
            if stored is None:
                removals.append(f"#f{position}")
            else:
                values[f":v{position}"] = stored
                assignments.append(f"#f{position} = :v{position}")
        expression = "SET " + ", ".join(assignments)
        if removals:
            expression += " REMOVE " + ", ".join(removals)
        try:
            response = write_item(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=service_key(account_sid, service_sid),
                    UpdateExpression=expression,
                    ConditionExpression=LIVE,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                ),
                Retries(),
            )
        except ClientError as error:
            if _condition_failed(error):
                return None
            raise
        return service_from(response["Attributes"])

    def mark_deleted(self, account_sid: str, service_sid: str, now: datetime) -> bool | None:
        """Mark the Service deleted. True when this call did it, False when it was already
        being deleted, None when there is no such Service.

        The mark names the call that made it: a write repeated after its answer was lost
        (botocore's retry) finds its own mark, and this call still did it.
        """
        mark = {"S": uuid.uuid4().hex}
        try:
            write_item(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=service_key(account_sid, service_sid),
                    UpdateExpression="SET DeletedAt = :now, DeletedBy = :mark",
                    ConditionExpression=(
                        "attribute_exists(Sid) AND "
                        "(attribute_not_exists(DeletedAt) OR DeletedBy = :mark)"
                    ),
                    ExpressionAttributeValues={":now": {"S": _timestamp(now)}, ":mark": mark},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
                Retries(),
            )
        except ClientError as error:
            if _condition_failed(error):
                return False if error.response.get("Item") else None
            raise
        return True

    def remove(self, account_sid: str, service_sid: str) -> None:
        """The last step of a purge: the deleted Service's item itself."""
        write_item(
            lambda: self._client.delete_item(
                TableName=self._table,
                Key=service_key(account_sid, service_sid),
                # Gone already (a repeated purge request) is fine; a live Service is not.
                ConditionExpression="attribute_not_exists(Sid) OR attribute_exists(DeletedAt)",
            ),
            Retries(),
        )


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _attr(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": str(value)}


def _value(attribute: dict[str, Any] | None) -> Any:
    if attribute is None:
        return None
    if "N" in attribute:
        return int(attribute["N"])
    return attribute["BOOL"] if "BOOL" in attribute else attribute["S"]


def _condition_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")
