"""AccountStore against moto's DynamoDB, with AccountsTable as template.yaml declares it.

Tests share the table, so each works with accounts of its own and never assumes it is empty.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_api.runtime import kms_client
from notify_bindings.dal.accounts import Account, AccountNotFound, AccountStore, ApiKey
from notify_bindings.dal.sealing import BrokenSeal, Sealer

TABLE = "AccountsTable"
AUTH_TOKEN = re.compile(r"[0-9a-f]{32}")
KEY_SECRET = re.compile(r"[0-9A-Za-z]{32}")


@pytest.fixture
def store(dynamodb: Any) -> AccountStore:
    return AccountStore(dynamodb, TABLE)


def raw_items(dynamodb: Any, **request: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    paginator = dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=TABLE, **request):
        items += page["Items"]
    return items


def test_given_a_new_account_when_its_token_is_presented_then_it_proves_the_account(store):
    account, token = store.create_account("Production")

    assert re.fullmatch(r"AC[0-9a-f]{32}", account.sid)
    assert AUTH_TOKEN.fullmatch(token)
    assert account.friendly_name == "Production"
    assert abs(account.date_created - datetime.now(UTC)) < timedelta(minutes=1)
    assert store.authenticate(account.sid, token) == account.sid


def test_given_an_api_key_when_its_secret_is_presented_then_it_proves_the_owning_account(store):
    account, _ = store.create_account()

    key, secret = store.create_api_key(account.sid, "CI")

    assert re.fullmatch(r"SK[0-9a-f]{32}", key.sid)
    assert KEY_SECRET.fullmatch(secret)
    assert (key.account_sid, key.friendly_name) == (account.sid, "CI")
    assert store.authenticate(key.sid, secret) == account.sid


def test_given_a_wrong_secret_then_nothing_is_proven(store):
    account, token = store.create_account()
    key, secret = store.create_api_key(account.sid)

    assert store.authenticate(account.sid, token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert store.authenticate(account.sid, secret) is None
    assert store.authenticate(key.sid, token) is None
    assert store.authenticate(key.sid, "") is None
    assert store.authenticate(account.sid, token.upper()) is None


@pytest.mark.parametrize(
    "username",
    ["AC" + "1" * 32, "SK" + "1" * 32, "", "alice", "AC" + "A" * 32, "IS" + "1" * 32],
)
def test_given_an_unknown_or_malformed_sid_then_nothing_is_proven(store, username):
    assert store.authenticate(username, "0" * 32) is None


def test_given_a_rotated_token_then_the_old_one_is_refused_and_the_new_one_works(store):
    account, old = store.create_account()

    new = store.rotate_auth_token(account.sid)

    assert new != old
    assert AUTH_TOKEN.fullmatch(new)
    assert store.authenticate(account.sid, old) is None
    assert store.authenticate(account.sid, new) == account.sid


def test_given_a_rotated_token_then_the_accounts_keys_keep_working(store):
    account, _ = store.create_account()
    key, secret = store.create_api_key(account.sid)

    store.rotate_auth_token(account.sid)

    assert store.authenticate(key.sid, secret) == account.sid


def test_given_no_such_account_when_rotating_then_account_not_found(store):
    with pytest.raises(AccountNotFound) as raised:
        store.rotate_auth_token("AC" + "2" * 32)

    assert isinstance(raised.value, KeyError)
    assert str(raised.value) == f"No account AC{'2' * 32}"


def test_given_an_api_key_sid_when_rotating_an_account_token_then_account_not_found(store):
    account, _ = store.create_account()
    key, secret = store.create_api_key(account.sid)

    with pytest.raises(AccountNotFound):
        store.rotate_auth_token(key.sid)
    assert store.authenticate(key.sid, secret) == account.sid


def test_given_a_revoked_key_then_its_secret_is_refused(store):
    account, _ = store.create_account()
    key, secret = store.create_api_key(account.sid)
    other, other_secret = store.create_api_key(account.sid)

    assert store.revoke_api_key(key.sid) is True

    assert store.authenticate(key.sid, secret) is None
    assert store.authenticate(other.sid, other_secret) == account.sid
    assert store.revoke_api_key(key.sid) is False


def test_given_an_account_sid_when_revoking_a_key_then_the_account_stays(store):
    account, token = store.create_account()

    assert store.revoke_api_key(account.sid) is False
    assert store.revoke_api_key("SK" + "3" * 32) is False
    assert store.authenticate(account.sid, token) == account.sid


def test_given_keys_of_two_accounts_then_each_proves_only_its_own(store):
    first, first_token = store.create_account()
    second, _ = store.create_account()
    first_key, first_secret = store.create_api_key(first.sid)
    second_key, second_secret = store.create_api_key(second.sid)

    assert store.authenticate(first_key.sid, first_secret) == first.sid
    assert store.authenticate(second_key.sid, second_secret) == second.sid
    assert store.authenticate(second_key.sid, first_secret) is None
    assert store.authenticate(second.sid, first_token) is None
    assert [key.sid for key in store.list_api_keys(second.sid)] == [second_key.sid]


def test_given_no_such_account_when_creating_a_key_then_account_not_found_and_nothing_written(
    store, dynamodb
):
    missing = "AC" + "4" * 32

    with pytest.raises(AccountNotFound):
        store.create_api_key(missing)

    assert (
        raw_items(
            dynamodb,
            FilterExpression="AccountSid = :account",
            ExpressionAttributeValues={":account": {"S": missing}},
        )
        == []
    )


def test_given_an_account_deleted_from_the_table_then_its_keys_are_refused(store, dynamodb):
    account, _ = store.create_account()
    key, secret = store.create_api_key(account.sid)

    dynamodb.delete_item(TableName=TABLE, Key={"Sid": {"S": account.sid}})

    assert store.authenticate(key.sid, secret) is None
    with pytest.raises(AccountNotFound):
        store.create_api_key(account.sid)


def test_given_several_keys_then_they_are_listed_oldest_first_without_the_account(store):
    account, _ = store.create_account()
    created = [store.create_api_key(account.sid, f"key {n}")[0] for n in range(3)]
    store.revoke_api_key(created[1].sid)

    listed = store.list_api_keys(account.sid)

    assert {key.sid for key in listed} == {created[0].sid, created[2].sid}
    assert all(isinstance(key, ApiKey) and key.account_sid == account.sid for key in listed)
    assert listed == sorted(listed, key=lambda key: (key.date_created, key.sid))
    assert store.list_api_keys("AC" + "5" * 32) == []


def test_given_accounts_then_the_admin_listing_has_them_and_no_key(store):
    first, _ = store.create_account("first")
    second, _ = store.create_account("second")
    key, _ = store.create_api_key(first.sid)

    listed = store.list_accounts()

    assert {first, second} <= set(listed)
    assert all(isinstance(account, Account) for account in listed)
    assert key.sid not in {account.sid for account in listed}
    assert store.get_account(first.sid) == first
    assert store.get_account(key.sid) is None


def test_given_stored_credentials_then_only_salted_hashes_are_stored(store, dynamodb, template):
    first, token = store.create_account()
    second, same_token = store.create_account(auth_token=token)
    key, secret = store.create_api_key(first.sid)
    rotated = store.rotate_auth_token(second.sid)

    items = {item["Sid"]["S"]: item for item in raw_items(dynamodb)}
    ours = [items[sid] for sid in (first.sid, second.sid, key.sid)]
    for item in ours:
        text = repr(item)
        for secret_value in (token, same_token, secret, rotated):
            assert secret_value not in text
            assert secret_value.encode() not in b"".join(
                bytes(value["B"]) for value in item.values() if "B" in value
            )
        assert set(item) == {
            "Sid",
            "AccountSid",
            "Kind",
            "FriendlyName",
            "DateCreated",
            "SecretHash",
            "SecretSalt",
        }
    # The same token twice is stored as two different hashes: the salt differs.
    assert items[first.sid]["SecretHash"] != items[second.sid]["SecretHash"]


def test_given_the_template_then_the_by_account_index_projects_no_hash(template, dynamodb):
    (index,) = template.tables["AccountsTable"]["GlobalSecondaryIndexes"]
    projected = set(index["Projection"].get("NonKeyAttributes", []))
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert not projected & {"SecretHash", "SecretSalt"}

    # moto honours the projection: what the index returns carries no hash either.
    store = AccountStore(dynamodb, TABLE)
    account, _ = store.create_account()
    store.create_api_key(account.sid)
    indexed = raw_items(dynamodb, IndexName="ByAccount")
    assert indexed
    assert all(not {"SecretHash", "SecretSalt"} & set(item) for item in indexed)


def test_given_a_seeded_account_when_seeded_again_then_the_token_is_replaced(store):
    sid, first_token, second_token = "AC" + "6" * 32, "a" * 32, "b" * 32

    account, token = store.create_account("dev", account_sid=sid, auth_token=first_token)
    again, token_again = store.create_account(account_sid=sid, auth_token=second_token)

    assert (account.sid, token, token_again) == (sid, first_token, second_token)
    assert again == account  # the name and creation date stay
    assert store.authenticate(sid, first_token) is None
    assert store.authenticate(sid, second_token) == sid
    assert [a.sid for a in store.list_accounts()].count(sid) == 1


def test_given_a_seeded_sid_without_a_token_then_a_token_is_made(store):
    sid = "AC" + "7" * 32

    account, token = store.create_account(account_sid=sid)

    assert account.sid == sid
    assert AUTH_TOKEN.fullmatch(token)
    assert store.authenticate(sid, token) == sid


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"account_sid": "AC123"}, "Account SID"),
        ({"account_sid": "SK" + "8" * 32}, "Account SID"),
        ({"account_sid": "AC" + "A" * 32}, "Account SID"),
        ({"auth_token": "short"}, "auth token"),
        ({"auth_token": "G" * 32}, "auth token"),
        ({"friendly_name": "x" * 65}, "friendly name"),
        ({"friendly_name": "tab\there"}, "friendly name"),
    ],
)
def test_given_malformed_seeding_values_then_value_error(store, arguments, problem):
    with pytest.raises(ValueError, match=problem):
        store.create_account(**arguments)


# -- the sealed copy of the auth token, for signing delivery callbacks ------------------------


@pytest.fixture
def sealer(aws: Any) -> Sealer:
    kms = kms_client(None)
    return Sealer(kms, kms.create_key(Description="accounts")["KeyMetadata"]["Arn"])


@pytest.fixture
def sealing_store(dynamodb: Any, sealer: Sealer) -> AccountStore:
    return AccountStore(dynamodb, TABLE, sealer=sealer)


def test_given_an_account_made_with_a_sealer_then_its_token_opens(sealing_store, dynamodb):
    account, token = sealing_store.create_account("Signed")

    assert sealing_store.auth_token(account.sid) == token
    (item,) = raw_items(
        dynamodb, FilterExpression="Sid = :s", ExpressionAttributeValues={":s": {"S": account.sid}}
    )
    assert token.encode() not in bytes(item["SealedToken"]["B"])


def test_given_a_rotated_token_then_the_new_one_opens(sealing_store):
    account, old = sealing_store.create_account()

    new = sealing_store.rotate_auth_token(account.sid)

    assert sealing_store.auth_token(account.sid) == new != old


def test_given_a_seeded_account_then_its_given_token_opens(sealing_store):
    sid, token = "AC" + "7" * 32, "ab" * 16

    sealing_store.create_account("Seeded", account_sid=sid, auth_token=token)

    assert sealing_store.auth_token(sid) == token


def test_given_an_account_made_before_sealing_then_no_token_until_it_rotates(store, sealing_store):
    account, _ = store.create_account("Older")

    assert sealing_store.auth_token(account.sid) is None
    rotated = sealing_store.rotate_auth_token(account.sid)
    assert sealing_store.auth_token(account.sid) == rotated


def test_given_a_rotation_without_a_sealer_then_the_stale_sealed_copy_is_gone(store, sealing_store):
    account, _ = sealing_store.create_account()

    store.rotate_auth_token(account.sid)

    assert sealing_store.auth_token(account.sid) is None


def test_given_a_sealed_copy_moved_to_another_account_then_it_does_not_open(
    sealing_store, dynamodb
):
    victim, _ = sealing_store.create_account("Victim")
    thief, _ = sealing_store.create_account("Thief")
    blob = dynamodb.get_item(TableName=TABLE, Key={"Sid": {"S": victim.sid}})["Item"]
    dynamodb.update_item(
        TableName=TABLE,
        Key={"Sid": {"S": thief.sid}},
        UpdateExpression="SET SealedToken = :b",
        ExpressionAttributeValues={":b": blob["SealedToken"]},
    )

    with pytest.raises(BrokenSeal):
        sealing_store.auth_token(thief.sid)


def test_given_no_account_or_an_api_key_then_there_is_no_token(sealing_store):
    account, _ = sealing_store.create_account()
    key, _ = sealing_store.create_api_key(account.sid)

    assert sealing_store.auth_token("AC" + "0" * 32) is None
    assert sealing_store.auth_token(key.sid) is None
    assert sealing_store.auth_token("not a sid") is None


def test_given_a_store_without_a_sealer_then_it_cannot_open_tokens(store):
    account, _ = store.create_account()

    with pytest.raises(RuntimeError):
        store.auth_token(account.sid)
