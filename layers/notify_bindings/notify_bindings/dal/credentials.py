"""Credentials in ServicesTable (AccountSid, Sid = CR…), beside the account's Services.

Keyed by account like Services, so another account's Credential is simply absent and a list is
one Query of the account's partition between "CR" and "CS" per page (Services' lists read
between "IS" and "IT", so neither ever meets the other). An item:

    {AccountSid, Sid: CR…, Type, FriendlyName?, Sandbox?, Environments?, DateCreated,
     DateUpdated, Sealed}

`Sealed` is the Credential's secret material (CredentialMaterial as JSON) sealed with the
credentials key (dal/sealing.py), encryption context {account_sid, credential_sid}. Writing it
needs kms:GenerateDataKey; only `open`, which the delivering functions call, needs kms:Decrypt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

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
from notify_bindings.domain.credentials import Credential, CredentialMaterial, CredentialType
from notify_bindings.domain.notifications import OpenedCredential
from notify_bindings.domain.paging import Page, PageCursor

# What a read returns: all but the sealed material, which only `open` reads.
_PUBLIC = "AccountSid, Sid, #type, FriendlyName, Sandbox, Environments, DateCreated, DateUpdated"
_CREDENTIAL = "attribute_exists(Sid)"


def sealing_context(account_sid: str, credential_sid: str) -> dict[str, str]:
    return {"account_sid": account_sid, "credential_sid": credential_sid}


class Sealing(Protocol):
    """Envelope encryption (dal.sealing.Sealer), given: the functions that only fetch, list or
    delete Credentials have no key and load no cryptography."""

    def seal(self, secret: bytes, context: Mapping[str, str]) -> bytes: ...

    def open(self, blob: bytes, context: Mapping[str, str]) -> bytes: ...


class CredentialStore:
    def __init__(self, client: DynamoDBClient, table: str, sealer: Sealing | None) -> None:
        self._client = client
        self._table = table
        self._sealer = sealer

    def create(self, credential: Credential, material: CredentialMaterial) -> None:
        item = {**_item(credential), "Sealed": {"B": self._seal(credential, material)}}
        write_item(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=item,
                # A write repeated after its answer was lost finds its own item: no collision.
                ConditionExpression="attribute_not_exists(Sid) OR DateCreated = :created",
                ExpressionAttributeValues={":created": item["DateCreated"]},
            ),
            Retries(),
        )

    def get(self, account_sid: str, credential_sid: str) -> Credential | None:
        item = self._read(
            account_sid,
            credential_sid,
            ProjectionExpression=_PUBLIC,
            ExpressionAttributeNames={"#type": "Type"},
        )
        return credential_from(item) if item else None

    def list_page(self, account_sid: str, cursor: PageCursor | None, size: int) -> Page[Credential]:
        scope = KeyRange(
            table=self._table,
            partition=("AccountSid", account_sid),
            sort_key="Sid",
            low="CR",
            high="CS",  # every Credential SID sorts between "CR" and "CS"
        )
        return query_page(self._client, scope, cursor, size, credential_from)

    def update(
        self, credential: Credential, material: CredentialMaterial | None
    ) -> Credential | None:
        """Store `credential` as it now is (and `material`, sealed anew, when it changed); None
        when it no longer exists."""
        item = _item(credential)
        values: Item = {":updated": item["DateUpdated"], ":type": item["Type"]}
        assignments, removals = ["DateUpdated = :updated"], []
        for attribute in ("FriendlyName", "Sandbox", "Environments"):
            if attribute in item:
                values[f":{attribute}"] = item[attribute]
                assignments.append(f"{attribute} = :{attribute}")
            else:
                removals.append(attribute)
        if material is not None:
            values[":sealed"] = {"B": self._seal(credential, material)}
            assignments.append("Sealed = :sealed")
        expression = "SET " + ", ".join(assignments)
        if removals:
            expression += " REMOVE " + ", ".join(removals)
        try:
            response = write_item(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=_key(credential.account_sid, credential.sid),
                    UpdateExpression=expression,
                    ConditionExpression=f"{_CREDENTIAL} AND #type = :type",
                    ExpressionAttributeNames={"#type": "Type"},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                ),
                Retries(),
            )
        except ClientError as error:
            if _condition_failed(error):
                return None
            raise
        return credential_from(response["Attributes"])

    def delete(self, account_sid: str, credential_sid: str) -> bool:
        """False when there was no such Credential."""
        if not credential_sid.startswith("CR"):
            return False
        try:
            write_item(
                lambda: self._client.delete_item(
                    TableName=self._table,
                    Key=_key(account_sid, credential_sid),
                    ConditionExpression=_CREDENTIAL,
                ),
                Retries(),
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def open(self, account_sid: str, credential_sid: str) -> OpenedCredential | None:
        """The Credential's material, unsealed and parsed for the providers' clients, with its
        `sandbox`; None when there is no such Credential. Needs kms:Decrypt: the delivering
        functions only. BrokenSeal (dal.sealing) when the sealed material does not open for
        this Credential."""
        from notify_bindings.dal.credential_material import read_material

        if self._sealer is None:
            raise RuntimeError("this credential store has no sealer")
        item = self._read(account_sid, credential_sid)
        if item is None or "Sealed" not in item:
            return None
        credential = credential_from(item)
        opened = self._sealer.open(
            bytes(item["Sealed"]["B"]), sealing_context(account_sid, credential_sid)
        )
        material = CredentialMaterial.from_dict(json.loads(opened))
        return OpenedCredential(
            read_material(credential.type, material, credential.sandbox, trusted=True),
            sandbox=bool(credential.sandbox),
        )

    def _read(self, account_sid: str, credential_sid: str, **projection: Any) -> Item | None:
        """The Credential's item (None for a SID that is not a Credential's, or no such one)."""
        if not credential_sid.startswith("CR"):
            return None
        with translated_errors():
            response = self._client.get_item(
                TableName=self._table,
                Key=_key(account_sid, credential_sid),
                ConsistentRead=True,
                **projection,
            )
        item: Item | None = response.get("Item")
        return item

    def _seal(self, credential: Credential, material: CredentialMaterial) -> bytes:
        if self._sealer is None:
            raise RuntimeError("this credential store has no sealer")
        secret = json.dumps(material.as_dict(), sort_keys=True).encode("utf-8")
        return self._sealer.seal(secret, sealing_context(credential.account_sid, credential.sid))


def credential_from(item: Item) -> Credential:
    return Credential(
        sid=item["Sid"]["S"],
        account_sid=item["AccountSid"]["S"],
        type=CredentialType(item["Type"]["S"]),
        date_created=datetime.fromisoformat(item["DateCreated"]["S"]),
        date_updated=datetime.fromisoformat(item["DateUpdated"]["S"]),
        friendly_name=item["FriendlyName"]["S"] if "FriendlyName" in item else None,
        sandbox=item["Sandbox"]["BOOL"] if "Sandbox" in item else None,
        environments=frozenset(v["S"] for v in item.get("Environments", {}).get("L", [])),
    )


def _item(credential: Credential) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(credential.account_sid, credential.sid),
        "Type": {"S": credential.type.value},
        "DateCreated": {"S": _timestamp(credential.date_created)},
        "DateUpdated": {"S": _timestamp(credential.date_updated)},
    }
    if credential.friendly_name is not None:
        item["FriendlyName"] = {"S": credential.friendly_name}
    if credential.sandbox is not None:
        item["Sandbox"] = {"BOOL": credential.sandbox}
    if credential.environments:
        item["Environments"] = {"L": [{"S": e} for e in sorted(credential.environments)]}
    return item


def _key(account_sid: str, credential_sid: str) -> Item:
    return {"AccountSid": {"S": account_sid}, "Sid": {"S": credential_sid}}


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _condition_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")
