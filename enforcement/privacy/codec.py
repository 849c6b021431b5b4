"""Payload encryption: what the workflows carry (complainants, controllers, subjects, evidence
references, addresses) is stored by Temporal only as AES-256-GCM ciphertext.

Every payload is serialized whole (its metadata and data) and sealed with the key ring's
current key under a fresh random 96-bit nonce; the result carries `encoding:
binary/encrypted` and the key's id in its metadata (`encryption-key-id`), the key id also
being the associated data, so a payload cannot be passed off under another id.

Rotation: add a new key to ENFORCE_ENCRYPTION_KEYS and make it ENFORCE_ENCRYPTION_KEY_ID;
new payloads are then sealed with it while everything written with the older keys still
opens. Retire a key only when no history that still matters (open cases, retained closed
ones, the replay histories under tests/) uses it. Payloads that were never encrypted (written
before encryption was turned on) pass through decoding unchanged.

Search attributes (stage, procedure, next deadline, controller country) and workflow ids are
indexed by the server and are not encrypted: they must never hold personal data.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from enforcement.ops.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32


class EncryptionConfigError(ValueError):
    """The key ring's configuration is unusable; the message names key ids, never keys."""


class UnknownEncryptionKey(KeyError):
    """A payload was encrypted with a key id the key ring does not hold."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        super().__init__(key_id)
        self.key_id = key_id
        self.known = tuple(known)

    def __str__(self) -> str:
        return (f"payload encrypted with key id {self.key_id!r}, which is not in the key ring "
                f"(ENFORCE_ENCRYPTION_KEYS holds: {', '.join(self.known) or 'no key'}); "
                f"add the key {self.key_id!r} back to decrypt it")


class DecryptionFailed(ValueError):
    """A payload did not authenticate under the key its metadata names."""


def key_bytes(key_id: str, text: str) -> bytes:
    """The 32 bytes of an AES-256 key given as base64."""
    if not key_id or not key_id.isprintable() or len(key_id) > 100:
        raise EncryptionConfigError(f"encryption key id {key_id!r}: use 1-100 printable "
                                    "characters")
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionConfigError(f"encryption key {key_id!r} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise EncryptionConfigError(
            f"encryption key {key_id!r} holds {len(key)} bytes; AES-256 needs {KEY_BYTES} "
            "(make one with: python -c \"import base64, os; "
            "print(base64.b64encode(os.urandom(32)).decode())\")")
    return key


def new_key() -> str:
    """A fresh random key, base64, for ENFORCE_ENCRYPTION_KEYS."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


class KeyRing:
    """Keys by id; `current` encrypts, every key decrypts."""

    def __init__(self, keys: Mapping[str, bytes], current: str | None = None) -> None:
        if not keys:
            raise EncryptionConfigError("the key ring holds no key")
        for key_id, key in keys.items():
            if not key_id or len(key) != KEY_BYTES:
                raise EncryptionConfigError(f"encryption key {key_id!r} must be {KEY_BYTES} "
                                            "bytes under a non-empty id")
        if current is None:
            if len(keys) > 1:
                raise EncryptionConfigError(
                    "ENFORCE_ENCRYPTION_KEYS holds several keys: set ENFORCE_ENCRYPTION_KEY_ID "
                    f"to the one that encrypts new payloads ({', '.join(sorted(keys))})")
            current = next(iter(keys))
        if current not in keys:
            raise EncryptionConfigError(
                f"ENFORCE_ENCRYPTION_KEY_ID {current!r} is not among ENFORCE_ENCRYPTION_KEYS "
                f"({', '.join(sorted(keys))})")
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current = current

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        keys = {key_id: key_bytes(key_id, secret.get_secret_value())
                for key_id, secret in settings.encryption_keys.items()}
        return cls(keys, settings.encryption_key_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._aead))

    def seal(self, plaintext: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        aad = self.current.encode()
        return self.current, nonce + self._aead[self.current].encrypt(nonce, plaintext, aad)

    def open(self, key_id: str, sealed: bytes) -> bytes:
        aead = self._aead.get(key_id)
        if aead is None:
            raise UnknownEncryptionKey(key_id, self.ids)
        if len(sealed) < NONCE_BYTES + 16:
            raise DecryptionFailed(f"encrypted payload under key id {key_id!r} is truncated")
        try:
            return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise DecryptionFailed(
                f"payload under key id {key_id!r} does not authenticate: the key configured "
                "under that id is not the one it was encrypted with, or the data was "
                "altered") from None


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec over a KeyRing."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            key_id, sealed = self.ring.seal(p.SerializeToString())
            out.append(Payload(metadata={"encoding": ENCODING,
                                         KEY_ID_METADATA: key_id.encode()},
                               data=sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)  # never encrypted (written before encryption was on)
                continue
            raw_id = p.metadata.get(KEY_ID_METADATA)
            if raw_id is None:
                raise DecryptionFailed(f"encrypted payload without its {KEY_ID_METADATA!r}")
            key_id = raw_id.decode("utf-8", "replace")
            decoded = Payload()
            decoded.ParseFromString(self.ring.open(key_id, p.data))
            out.append(decoded)
        return out


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """The pydantic payload converter, one instance per process. The SDK builds a data
    converter, and so a payload converter, for every workflow activation; a new
    PydanticPayloadConverter each time would rebuild its type adapters every time."""

    _shared: ClassVar[SharedPydanticPayloadConverter | None] = None

    def __new__(cls) -> SharedPydanticPayloadConverter:
        if cls._shared is None:
            cls._shared = super().__new__(cls)
            PydanticPayloadConverter.__init__(cls._shared)
        return cls._shared

    def __init__(self) -> None:
        """Initialised once, in `__new__`."""


# The engine's plain converter: pydantic_data_converter's encoding, its converter shared.
PLAIN_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)


def encrypted_converter(ring: KeyRing) -> DataConverter:
    """The plain converter with the codec; failure messages and stack traces are moved
    into an encoded (so encrypted) attribute too, since an error can quote a value."""
    return dataclasses.replace(
        PLAIN_CONVERTER, payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


def data_converter(settings: Settings) -> DataConverter:
    """The engine's data converter: the plain converter, encrypting when
    ENFORCE_ENCRYPTION_KEYS is set. Every client, worker, test environment and replayer of a
    deployment must use the same key ring."""
    if not settings.encryption_keys:
        if settings.encryption_key_id is not None:
            raise EncryptionConfigError("ENFORCE_ENCRYPTION_KEY_ID is set but "
                                        "ENFORCE_ENCRYPTION_KEYS is empty")
        return PLAIN_CONVERTER
    return encrypted_converter(KeyRing.from_settings(settings))
