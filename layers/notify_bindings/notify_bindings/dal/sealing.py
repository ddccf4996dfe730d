"""Envelope encryption of secrets stored beside the items they belong to.

Each seal asks KMS for a fresh data key (GenerateDataKey, AES-256), encrypts the secret with it
under AES-256-GCM, and keeps only the data key as KMS encrypted it. Opening asks KMS to decrypt
that data key, which it does only for a caller allowed kms:Decrypt on the key, and only with the
same encryption context. The context (e.g. {account_sid, credential_sid}) is also the GCM
additional data, so a sealed blob copied to another item, or another account, opens nowhere.

The blob: version (1 byte), length of the encrypted data key (2 bytes, big-endian), the
encrypted data key, the GCM nonce (12 bytes), the ciphertext with its 16-byte tag.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from notify_bindings.dal.dynamo import translated_errors

_VERSION = 1
_HEADER = struct.Struct(">BH")
_NONCE_BYTES = 12
_TAG_BYTES = 16
# KMS answers these when a blob is not one of its own, or not for this context or key.
_REFUSED = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class BrokenSeal(ValueError):
    """A sealed blob that does not open: altered, truncated, or for another context."""

    def __init__(self) -> None:
        super().__init__("the sealed secret does not open with this context")


class Sealer:
    """Seals and opens secrets with data keys of one KMS key."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id

    def seal(self, secret: bytes, context: Mapping[str, str]) -> bytes:
        with translated_errors():
            response = self._kms.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=dict(context)
            )
        encrypted_key: bytes = response["CiphertextBlob"]
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(response["Plaintext"]).encrypt(nonce, secret, _aad(context))
        header = _HEADER.pack(_VERSION, len(encrypted_key))
        return header + encrypted_key + nonce + ciphertext

    def open(self, blob: bytes, context: Mapping[str, str]) -> bytes:
        """The secret; BrokenSeal when the blob was altered or sealed for another context."""
        if len(blob) < _HEADER.size:
            raise BrokenSeal()
        version, key_length = _HEADER.unpack_from(blob)
        body = blob[_HEADER.size :]
        if version != _VERSION or len(body) < key_length + _NONCE_BYTES + _TAG_BYTES:
            raise BrokenSeal()
        encrypted_key = body[:key_length]
        nonce = body[key_length : key_length + _NONCE_BYTES]
        ciphertext = body[key_length + _NONCE_BYTES :]
        try:
            with translated_errors():
                response = self._kms.decrypt(
                    KeyId=self._key_id,
                    CiphertextBlob=encrypted_key,
                    EncryptionContext=dict(context),
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _REFUSED:
                raise BrokenSeal() from None
            raise
        try:
            secret: bytes = AESGCM(response["Plaintext"]).decrypt(nonce, ciphertext, _aad(context))
        except InvalidTag:
            raise BrokenSeal() from None
        return secret


def _aad(context: Mapping[str, str]) -> bytes:
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":")).encode("utf-8")
