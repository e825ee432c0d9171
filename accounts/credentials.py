"""Exchange and LLM credentials, encrypted at rest (api.md "credentials", schema.md).

Each value is sealed with AES-256-GCM under a fresh random 96-bit nonce. The associated data
binds a ciphertext to its place: the credential's id, its owner and the column. A value copied
to another row, another user or the other column, or a row whose id or owner was changed, no
longer decrypts. The stored text names the key that sealed it (`v1:<key id>:<base64 nonce and
ciphertext>`), so CREDENTIALS_ENCRYPTION_KEY can list a new key first (it seals everything
new) and keep the old ones after it (they still open older rows) until `reseal_all` has moved
every row to the new key.

Plaintext leaves this module only through `reveal` (for the trading engine); the API shows
`masked_key` (the last 4 characters) and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import CredentialNotFound, CredentialUnreadable
from db.enums import CredentialType
from db.models import Credential
from gr8d.config import parse_encryption_keys

FORMAT_VERSION = "v1"
NONCE_BYTES = 12  # 96 bits, the size GCM is defined for
VISIBLE_KEY_CHARACTERS = 4
EDITABLE = frozenset({"nickname", "is_active", "api_key", "api_secret"})


class SealedField(StrEnum):
    API_KEY = "api_key"
    API_SECRET = "api_secret"


class CredentialCipher:
    """AES-256-GCM under the configured keys; the first key seals, every key opens."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is required")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current_key_id = next(iter(keys))

    @classmethod
    def from_setting(cls, value: str) -> CredentialCipher:
        """From CREDENTIALS_ENCRYPTION_KEY (`id:base64key[,id:base64key...]`)."""
        return cls(parse_encryption_keys(value))

    def seal(
        self, plaintext: str, *, credential_id: uuid.UUID, user_id: uuid.UUID, field: SealedField
    ) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current_key_id].encrypt(
            nonce, plaintext.encode(), _associated_data(credential_id, user_id, field)
        )
        payload = base64.b64encode(nonce + sealed).decode()
        return f"{FORMAT_VERSION}:{self.current_key_id}:{payload}"

    def open(
        self, stored: str, *, credential_id: uuid.UUID, user_id: uuid.UUID, field: SealedField
    ) -> str:
        """The plaintext; CredentialUnreadable when the value was altered, moved or its key is
        no longer configured."""
        key_id, payload = _parts(stored, credential_id)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CredentialUnreadable(credential_id, f"key {key_id!r} is not configured")
        try:
            raw = base64.b64decode(payload, validate=True)
            plaintext = cipher.decrypt(
                raw[:NONCE_BYTES],
                raw[NONCE_BYTES:],
                _associated_data(credential_id, user_id, field),
            )
            return plaintext.decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise CredentialUnreadable(credential_id, "the value does not authenticate") from None

    @staticmethod
    def key_id_of(stored: str) -> str:
        return stored.removeprefix(f"{FORMAT_VERSION}:").rpartition(":")[0]


def _associated_data(credential_id: uuid.UUID, user_id: uuid.UUID, field: SealedField) -> bytes:
    return f"gr8d/credentials/{credential_id}/{user_id}/{field.value}".encode()


def _parts(stored: str, credential_id: uuid.UUID) -> tuple[str, str]:
    prefix = f"{FORMAT_VERSION}:"
    key_id, separator, payload = stored.removeprefix(prefix).rpartition(":")
    if not stored.startswith(prefix) or not separator:
        raise CredentialUnreadable(credential_id, "the stored value is not in a known format")
    return key_id, payload


@dataclass(frozen=True, slots=True)
class Revealed:
    api_key: str
    api_secret: str | None


def reveal(cipher: CredentialCipher, credential: Credential) -> Revealed:
    """The plaintext of a credential (for the trading engine, never for an API response)."""
    return Revealed(
        api_key=_open(cipher, credential, SealedField.API_KEY, credential.encrypted_api_key),
        api_secret=None
        if credential.encrypted_api_secret is None
        else _open(cipher, credential, SealedField.API_SECRET, credential.encrypted_api_secret),
    )


def masked_key(cipher: CredentialCipher, credential: Credential) -> str | None:
    """The last 4 characters of the API key, or None when the row no longer decrypts."""
    try:
        api_key = _open(cipher, credential, SealedField.API_KEY, credential.encrypted_api_key)
    except CredentialUnreadable:
        return None
    return api_key[-VISIBLE_KEY_CHARACTERS:]


def _open(cipher: CredentialCipher, credential: Credential, field: SealedField, stored: str) -> str:
    return cipher.open(stored, credential_id=credential.id, user_id=credential.user_id, field=field)


def _seal(
    cipher: CredentialCipher, credential: Credential, field: SealedField, plaintext: str
) -> str:
    return cipher.seal(
        plaintext, credential_id=credential.id, user_id=credential.user_id, field=field
    )


async def add_credential(
    session: AsyncSession,
    *,
    cipher: CredentialCipher,
    user_id: uuid.UUID,
    type: CredentialType,
    provider: str,
    api_key: str,
    api_secret: str | None,
    nickname: str | None,
) -> Credential:
    # The id is chosen here because the ciphertext is bound to it.
    credential = Credential(
        id=uuid.uuid4(),
        user_id=user_id,
        type=type.value,
        provider=provider,
        nickname=nickname,
        encrypted_api_key="",
    )
    credential.encrypted_api_key = _seal(cipher, credential, SealedField.API_KEY, api_key)
    if api_secret is not None:
        credential.encrypted_api_secret = _seal(
            cipher, credential, SealedField.API_SECRET, api_secret
        )
    session.add(credential)
    await session.flush()
    await session.refresh(credential)
    return credential


def credentials_of(*, user_id: uuid.UUID, type: CredentialType | None = None) -> Select[Any]:
    """A user's credentials, newest first (for pagination)."""
    statement = select(Credential).where(Credential.user_id == user_id)
    if type is not None:
        statement = statement.where(Credential.type == type.value)
    return statement.order_by(Credential.created_at.desc(), Credential.id.desc())


async def credential_of(
    session: AsyncSession, *, user_id: uuid.UUID, credential_id: uuid.UUID, for_update: bool = False
) -> Credential:
    """The user's credential; CredentialNotFound for anyone else's."""
    statement = select(Credential).where(
        Credential.id == credential_id, Credential.user_id == user_id
    )
    if for_update:
        statement = statement.with_for_update()
    credential = await session.scalar(statement)
    if credential is None:
        raise CredentialNotFound(credential_id)
    return credential


async def update_credential(
    session: AsyncSession,
    *,
    cipher: CredentialCipher,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
    changes: Mapping[str, Any],
) -> Credential:
    """Apply `changes` (nickname, is_active, api_key, api_secret; api_secret None removes it).
    A new key or secret is sealed with the current key."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    credential = await credential_of(
        session, user_id=user_id, credential_id=credential_id, for_update=True
    )
    if "nickname" in changes:
        credential.nickname = changes["nickname"]
    if "is_active" in changes:
        credential.is_active = changes["is_active"]
    if "api_key" in changes:
        credential.encrypted_api_key = _seal(
            cipher, credential, SealedField.API_KEY, changes["api_key"]
        )
    if "api_secret" in changes:
        secret = changes["api_secret"]
        credential.encrypted_api_secret = (
            None if secret is None else _seal(cipher, credential, SealedField.API_SECRET, secret)
        )
    await session.flush()
    await session.refresh(credential)
    return credential


async def delete_credential(
    session: AsyncSession, *, user_id: uuid.UUID, credential_id: uuid.UUID
) -> None:
    credential = await credential_of(session, user_id=user_id, credential_id=credential_id)
    await session.delete(credential)
    await session.flush()


async def reseal_all(session: AsyncSession, *, cipher: CredentialCipher) -> int:
    """Re-encrypt every value sealed with an older key under the current one (key rotation).
    Returns how many rows moved; rows that no longer decrypt are left as they are."""
    credentials = await session.scalars(select(Credential).with_for_update())
    moved = 0
    for credential in credentials:
        if CredentialCipher.key_id_of(credential.encrypted_api_key) == cipher.current_key_id:
            continue
        try:
            plain = reveal(cipher, credential)
        except CredentialUnreadable:
            continue
        credential.encrypted_api_key = _seal(cipher, credential, SealedField.API_KEY, plain.api_key)
        if plain.api_secret is not None:
            credential.encrypted_api_secret = _seal(
                cipher, credential, SealedField.API_SECRET, plain.api_secret
            )
        moved += 1
    await session.flush()
    return moved
