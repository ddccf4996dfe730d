"""The JSON Lines record of a binding: what `export` writes, `import` reads and `migrate` moves.

One JSON object per line, with the fields of Twilio's Binding JSON that a create can set, and
the source's SID and dates for reference:

    {"identity": "alice", "binding_type": "apn", "address": "token", "tags": ["vip"],
     "notification_protocol_version": "3", "credential_sid": null, "endpoint": null,
     "sid": "BS…", "date_created": "2026-01-02T03:04:05Z", "date_updated": "…"}

Import needs identity, binding_type and address; tags (a list), notification_protocol_version,
credential_sid and endpoint may be missing or null; anything else (sid, dates, url, links,
account_sid, service_sid, …) is ignored, so a Binding JSON as the API answers it is a record
too. A create assigns its own SID and dates: they cannot be carried over.

This module checks a record's shape only. What the values may be (lengths, E.164 numbers, at
most 20 tags, the identity's limit of 20 bindings) is the target's to decide: it refuses with
a 400 and a message, and the record is reported as rejected with that message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

BINDING_TYPES = ("apn", "fcm", "gcm", "sms", "facebook-messenger", "alexa")
# Types that carry a protocol version, and the ones that keep a credential (design.md).
PUSH_TYPES = frozenset({"apn", "fcm", "gcm", "alexa"})
CREDENTIAL_TYPES = frozenset({"apn", "fcm", "gcm"})
# The order of a record's fields, in every line export writes.
FIELDS = (
    "identity",
    "binding_type",
    "address",
    "tags",
    "notification_protocol_version",
    "credential_sid",
    "endpoint",
    "sid",
    "date_created",
    "date_updated",
)
CREDENTIAL_SID = re.compile(r"CR[0-9a-f]{32}")
_REQUIRED = ("identity", "binding_type", "address")
_OPTIONAL_TEXT = ("notification_protocol_version", "credential_sid", "endpoint")


class InvalidRecord(ValueError):
    """A line that is not a binding record. Its message says why, without the line's values
    (they are personal data, and the summary groups rejections by message)."""


@dataclass(frozen=True, slots=True)
class Record:
    """A binding to create: what the target's create is given."""

    identity: str
    binding_type: str
    address: str
    tags: tuple[str, ...]
    notification_protocol_version: str | None
    credential_sid: str | None
    endpoint: str | None
    source_sid: str | None = None

    def create_arguments(self) -> dict[str, Any]:
        """Keyword arguments of the twilio client's `bindings.create`."""
        arguments: dict[str, Any] = {
            "identity": self.identity,
            "binding_type": self.binding_type,
            "address": self.address,
        }
        if self.tags:
            arguments["tag"] = list(self.tags)
        for name in _OPTIONAL_TEXT:
            value = getattr(self, name)
            if value is not None:
                arguments[name] = value
        return arguments

    def same_as(self, binding: StoredBinding) -> bool:
        """Whether creating this record would leave `binding`, at the same address, as it is:
        the API's rule for an identical create (same identity, type, tag set, credential and
        protocol version). The target drops a credential for types that take none and a
        protocol version for sms and messenger; a push record without a version gets the
        Service's default, whatever it is."""
        credential = self.credential_sid if self.binding_type in CREDENTIAL_TYPES else None
        version = self.notification_protocol_version if self.binding_type in PUSH_TYPES else None
        return (
            binding.identity == self.identity
            and binding.binding_type == self.binding_type
            and binding.tags == frozenset(self.tags)
            and binding.credential_sid == credential
            and (
                binding.notification_protocol_version == version
                or (version is None and self.binding_type in PUSH_TYPES)
            )
        )


class CredentialMap:
    """What becomes of the Credential a record names. A Credential SID is the source account's:
    the target holds none of them (it refuses a binding naming another account's Credential),
    and none can be copied (no API returns a Credential's secrets). So a reference is rewritten
    to the target's Credential that `--credential-map SOURCE=TARGET` names for it, and else
    dropped: the binding is written without it, and delivers with its Service's Credential."""

    def __init__(self, targets: Mapping[str, str] | None = None) -> None:
        self._targets = dict(targets or {})

    def apply(self, record: Record) -> tuple[Record, str | None]:
        """The record to write, and the SID of the source's Credential it no longer names (None
        when it named none, or one of a type that takes none, which the target ignores)."""
        source = record.credential_sid
        if source is None:
            return record, None
        target = self._targets.get(source)
        if target is not None:
            return replace(record, credential_sid=target), None
        dropped = source if record.binding_type in CREDENTIAL_TYPES else None
        return replace(record, credential_sid=None), dropped


@dataclass(frozen=True, slots=True)
class StoredBinding:
    """What a target holds at an address, as far as `Record.same_as` needs to know."""

    sid: str
    identity: str
    binding_type: str
    tags: frozenset[str]
    credential_sid: str | None
    notification_protocol_version: str | None

    @classmethod
    def from_json(cls, binding: dict[str, Any]) -> StoredBinding:
        return cls(
            sid=str(binding["sid"]),
            identity=str(binding["identity"]),
            binding_type=str(binding["binding_type"]),
            tags=frozenset(binding.get("tags") or ()),
            credential_sid=binding.get("credential_sid"),
            notification_protocol_version=binding.get("notification_protocol_version"),
        )


def record_json(binding: dict[str, Any]) -> dict[str, Any]:
    """The record of a binding as the API answers it (its JSON): FIELDS, in their order."""
    return {name: binding.get(name) for name in FIELDS} | {"tags": list(binding.get("tags") or [])}


def dumps(record: dict[str, Any]) -> str:
    """One line of JSON Lines (without its newline), UTF-8 text as it is."""
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def read_line(raw: bytes) -> tuple[Any, Record | None, str | None]:
    """What a line holds (the object, else its text), its record, and else why it has none."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), None, "not UTF-8 text"
    try:
        value = json.loads(text)
    except ValueError:
        return text, None, "malformed JSON"
    if not isinstance(value, dict):
        return value, None, "not a JSON object"
    try:
        return value, record_from(value), None
    except InvalidRecord as error:
        return value, None, str(error)


def record_from(value: dict[str, Any]) -> Record:
    """The record of a JSON object (a line, or a binding of a source's listing)."""
    for name in _REQUIRED:
        if name not in value or value[name] is None:
            raise InvalidRecord(f"missing field {name!r}")
        if not isinstance(value[name], str) or not value[name]:
            raise InvalidRecord(f"field {name!r} must be a non-empty string")
    if value["binding_type"] not in BINDING_TYPES:
        raise InvalidRecord(f"unknown binding_type: not one of {', '.join(BINDING_TYPES)}")
    tags = value.get("tags")
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidRecord("field 'tags' must be a list of strings")
    for name in _OPTIONAL_TEXT:
        if value.get(name) is not None and not isinstance(value[name], str):
            raise InvalidRecord(f"field {name!r} must be a string or null")
    source_sid = value.get("sid")
    return Record(
        identity=value["identity"],
        binding_type=value["binding_type"],
        address=value["address"],
        tags=tuple(tags),
        notification_protocol_version=value.get("notification_protocol_version"),
        credential_sid=value.get("credential_sid"),
        endpoint=value.get("endpoint"),
        source_sid=source_sid if isinstance(source_sid, str) else None,
    )
