"""The JSON Lines record of notify-migrate: what a line must hold, what a create is given, when
a stored binding already is the record, and which line of a repeated address is imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notify_migrate.records import (
    FIELDS,
    CredentialMap,
    InvalidRecord,
    Record,
    StoredBinding,
    read_line,
    record_from,
    record_json,
)
from notify_migrate.transfer import SUPERSEDED, Outcome, Summary, file_items, survey

BINDING_JSON = {
    "sid": "BS" + "1" * 32,
    "account_sid": "AC" + "2" * 32,
    "service_sid": "IS" + "3" * 32,
    "credential_sid": "CR" + "4" * 32,
    "date_created": "2026-01-02T03:04:05Z",
    "date_updated": "2026-01-02T03:04:05Z",
    "notification_protocol_version": "3",
    "endpoint": None,
    "identity": "józef",
    "binding_type": "apn",
    "address": "token-1",
    "tags": ["vip", "news"],
    "url": "https://example.test/v1/Services/IS…/Bindings/BS…",
    "links": {"user": "https://example.test/v1/Services/IS…/Users/j%C3%B3zef"},
}


def stored(**changes: object) -> StoredBinding:
    return StoredBinding.from_json({**BINDING_JSON, **changes})


def test_given_a_binding_json_when_made_a_record_then_it_has_the_fields_in_order_and_no_links():
    record = record_json(BINDING_JSON)

    assert tuple(record) == FIELDS
    assert record["identity"] == "józef"
    assert record["tags"] == ["vip", "news"]
    assert "links" not in record
    assert "url" not in record


def test_given_a_binding_json_when_read_as_a_record_then_a_create_gets_every_settable_field():
    record = record_from(BINDING_JSON)

    assert record.create_arguments() == {
        "identity": "józef",
        "binding_type": "apn",
        "address": "token-1",
        "tag": ["vip", "news"],
        "notification_protocol_version": "3",
        "credential_sid": "CR" + "4" * 32,
    }
    assert record.source_sid == BINDING_JSON["sid"]


def test_given_a_minimal_record_when_read_then_optional_fields_are_left_to_the_api():
    record = record_from({"identity": "bob", "binding_type": "sms", "address": "+15551234567"})

    assert record.create_arguments() == {
        "identity": "bob",
        "binding_type": "sms",
        "address": "+15551234567",
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8 text"),
        (b'{"identity": "a",', "malformed JSON"),
        (b'["identity", "a"]', "not a JSON object"),
        (b'{"binding_type": "apn", "address": "t"}', "missing field 'identity'"),
        (b'{"identity": null, "binding_type": "apn", "address": "t"}', "missing field 'identity'"),
        (b'{"identity": "a", "binding_type": "apn"}', "missing field 'address'"),
        (
            b'{"identity": "", "binding_type": "apn", "address": "t"}',
            "field 'identity' must be a non-empty string",
        ),
        (
            b'{"identity": 7, "binding_type": "apn", "address": "t"}',
            "field 'identity' must be a non-empty string",
        ),
        (
            b'{"identity": "a", "binding_type": "pigeon", "address": "t"}',
            "unknown binding_type: not one of apn, fcm, gcm, sms, facebook-messenger, alexa",
        ),
        (
            b'{"identity": "a", "binding_type": "apn", "address": "t", "tags": "vip"}',
            "field 'tags' must be a list of strings",
        ),
        (
            b'{"identity": "a", "binding_type": "apn", "address": "t", "tags": [1]}',
            "field 'tags' must be a list of strings",
        ),
        (
            b'{"identity": "a", "binding_type": "apn", "address": "t", "credential_sid": 1}',
            "field 'credential_sid' must be a string or null",
        ),
    ],
)
def test_given_a_line_that_is_no_binding_record_when_read_then_it_says_why(line, reason):
    original, record, why = read_line(line)

    assert record is None
    assert why == reason
    assert original is not None  # what the rejects file shows


def test_given_a_rejection_reason_then_it_never_holds_the_values_of_the_line():
    with pytest.raises(InvalidRecord) as raised:
        record_from({"identity": "secret-person", "binding_type": "nope", "address": "tok"})

    assert "secret-person" not in str(raised.value)
    assert "nope" not in str(raised.value)


def test_given_the_stored_binding_is_the_record_then_it_is_the_same_whatever_the_tag_order():
    record = record_from({**BINDING_JSON, "tags": ["news", "vip", "news"]})

    assert record.same_as(stored())


@pytest.mark.parametrize(
    "change",
    [
        {"identity": "someone else"},
        {"binding_type": "fcm"},
        {"tags": ["vip"]},
        {"credential_sid": None},
        {"notification_protocol_version": "4"},
    ],
)
def test_given_the_stored_binding_differs_in_a_field_when_compared_then_it_is_not_the_same(change):
    assert not record_from(BINDING_JSON).same_as(stored(**change))


def test_given_an_sms_record_with_a_credential_then_the_target_drops_it_and_it_is_the_same():
    # The API keeps a credential and a protocol version only for the types that use them.
    record = record_from(
        {**BINDING_JSON, "binding_type": "sms", "address": "+15551234567", "tags": []}
    )
    held = stored(
        binding_type="sms",
        address="+15551234567",
        tags=[],
        credential_sid=None,
        notification_protocol_version=None,
    )

    assert record.same_as(held)


def test_given_a_push_record_without_a_version_then_any_version_of_the_service_is_the_same():
    record = Record("józef", "apn", "token-1", ("vip", "news"), None, "CR" + "4" * 32, None)

    assert record.same_as(stored(notification_protocol_version="7"))


TWILIO_CREDENTIAL = "CR" + "4" * 32  # BINDING_JSON's
OURS = "CR" + "9" * 32


def test_given_a_mapped_credential_when_applied_then_the_record_names_the_targets():
    record = record_from(BINDING_JSON)

    rewritten, dropped = CredentialMap({TWILIO_CREDENTIAL: OURS}).apply(record)

    assert dropped is None
    assert rewritten.credential_sid == OURS
    assert rewritten.create_arguments()["credential_sid"] == OURS
    assert rewritten.same_as(stored(credential_sid=OURS))
    assert (rewritten.identity, rewritten.address, rewritten.tags) == (
        record.identity,
        record.address,
        record.tags,
    )


def test_given_a_credential_no_map_gives_when_applied_then_it_is_dropped_and_named():
    record = record_from(BINDING_JSON)

    rewritten, dropped = CredentialMap({"CR" + "5" * 32: OURS}).apply(record)

    assert dropped == TWILIO_CREDENTIAL
    assert rewritten.credential_sid is None
    assert "credential_sid" not in rewritten.create_arguments()
    assert rewritten.same_as(stored(credential_sid=None))
    assert not rewritten.same_as(stored())


def test_given_a_record_without_a_credential_or_of_a_type_that_takes_none_then_nothing_is_dropped():
    sms = record_from({**BINDING_JSON, "binding_type": "sms", "address": "+15551234567"})
    none = record_from({**BINDING_JSON, "credential_sid": None})

    sms_rewritten, sms_dropped = CredentialMap().apply(sms)
    none_rewritten, none_dropped = CredentialMap().apply(none)

    assert (sms_rewritten.credential_sid, sms_dropped) == (None, None)  # the target ignores it
    assert (none_rewritten, none_dropped) == (none, None)


def write_lines(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


def test_given_an_address_on_two_lines_when_read_then_the_earlier_is_rejected_for_the_later(
    tmp_path: Path,
):
    first = json.dumps({"identity": "a", "binding_type": "apn", "address": "same"})
    other = json.dumps({"identity": "b", "binding_type": "apn", "address": "other"})
    last = json.dumps({"identity": "c", "binding_type": "apn", "address": "same"})
    path = write_lines(tmp_path / "in.jsonl", "\ufeff" + first, "", "   ", other, last)

    total, last_line = survey(path)
    items = list(file_items(path, last_line))

    assert total == 3  # blank lines are no records
    assert [(item.line, item.reason) for item in items] == [(1, SUPERSEDED), (4, None), (5, None)]
    assert items[2].record is not None
    assert items[2].record.identity == "c"


def test_given_a_summary_when_printed_then_it_counts_each_outcome_and_groups_reasons():
    summary = Summary("import", target="IS… at http://127.0.0.1:1", total=7)
    summary.counts.update({Outcome.CREATED: 3, Outcome.UNCHANGED: 1, Outcome.REJECTED: 3})
    summary.reasons.update({"malformed JSON": 2, "missing field 'identity'": 1})
    summary.examples = {
        "malformed JSON": ["line 2", "line 5"],
        "missing field 'identity'": ["line 7"],
    }
    summary.seconds = 2.0

    text = summary.text()
    data = summary.as_json()

    assert text.splitlines()[0].startswith(
        "import into IS… at http://127.0.0.1:1: 7 of 7 records: "
        "3 created, 0 replaced, 1 unchanged, 3 rejected in 2.0 s"
    )
    assert "  2  malformed JSON (line 2, line 5)" in text
    assert "  1  missing field 'identity' (line 7)" in text
    assert (data["created"], data["rejected"], data["processed"]) == (3, 3, 7)
    assert data["rejected_reasons"] == {"malformed JSON": 2, "missing field 'identity'": 1}
    assert data["credential_references_dropped"] == data["credential_references_mapped"] == 0
    assert "credential" not in text


def test_given_credential_references_dropped_and_mapped_then_the_summary_says_what_to_do():
    summary = Summary("migrate", target="IS…", total=6)
    summary.counts.update({Outcome.CREATED: 6})
    summary.dropped_credentials.update({"CR" + "b" * 32: 3, "CR" + "a" * 32: 1})
    summary.mapped_credentials = 2

    text = summary.text()
    data = summary.as_json()

    assert (
        "4 credential references dropped: create the credentials here and set them on the "
        f"Service, or give --credential-map SOURCE=TARGET for each (CR{'a' * 32}, CR{'b' * 32})"
    ) in text.splitlines()
    assert "2 credential references mapped" in text.splitlines()
    assert data["credential_references_dropped"] == 4
    assert data["dropped_credentials"] == {"CR" + "a" * 32: 1, "CR" + "b" * 32: 3}
    assert data["credential_references_mapped"] == 2
