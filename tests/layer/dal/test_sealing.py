"""Envelope encryption against moto's KMS: what is sealed opens only with its own context."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_api.runtime import kms_client
from notify_bindings.dal.sealing import BrokenSeal, Sealer

CONTEXT = {"account_sid": "AC" + "1" * 32, "credential_sid": "CR" + "2" * 32}
SECRET = b"-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def kms(aws: Any) -> Any:
    return kms_client(None)


@pytest.fixture
def sealer(kms: Any) -> Sealer:
    return Sealer(kms, kms.create_key(Description="tests")["KeyMetadata"]["Arn"])


def test_given_a_sealed_secret_when_opened_with_its_context_then_it_is_the_secret(sealer):
    blob = sealer.seal(SECRET, CONTEXT)

    assert SECRET not in blob
    assert sealer.open(blob, dict(reversed(CONTEXT.items()))) == SECRET


def test_given_the_same_secret_sealed_twice_then_each_seal_has_its_own_data_key(sealer):
    assert sealer.seal(SECRET, CONTEXT) != sealer.seal(SECRET, CONTEXT)


@pytest.mark.parametrize(
    "other",
    [
        {**CONTEXT, "credential_sid": "CR" + "3" * 32},
        {**CONTEXT, "account_sid": "AC" + "4" * 32},
        {"account_sid": CONTEXT["account_sid"]},
    ],
)
def test_given_another_context_when_opened_then_the_seal_is_broken(sealer, other):
    blob = sealer.seal(SECRET, CONTEXT)

    with pytest.raises(BrokenSeal):
        sealer.open(blob, other)


# Every part: the header, the data key as KMS sealed it (past the key ID that moto puts first
# and reads as another key: AccessDenied), the nonce, the ciphertext and its tag.
@pytest.mark.parametrize("position", [0, 2, 50, -40, -20, -1])
def test_given_a_tampered_blob_when_opened_then_the_seal_is_broken(sealer, position):
    blob = bytearray(sealer.seal(SECRET, CONTEXT))
    blob[position] ^= 0x01

    with pytest.raises(BrokenSeal):
        sealer.open(bytes(blob), CONTEXT)


@pytest.mark.parametrize("length", [0, 2, 10])
def test_given_a_truncated_blob_when_opened_then_the_seal_is_broken(sealer, length):
    blob = sealer.seal(SECRET, CONTEXT)

    with pytest.raises(BrokenSeal):
        sealer.open(blob[:length], CONTEXT)


def test_given_another_key_when_opened_then_it_does_not_open(sealer, kms):
    blob = sealer.seal(SECRET, CONTEXT)
    other = Sealer(kms, kms.create_key(Description="other")["KeyMetadata"]["Arn"])

    # KMS answers IncorrectKeyException (a BrokenSeal); moto answers AccessDenied.
    with pytest.raises((BrokenSeal, ClientError)):
        other.open(blob, CONTEXT)
