"""AES-256-GCM sealing of credentials: bound to row, owner and column; keys rotate."""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from accounts.credentials import NONCE_BYTES, CredentialCipher, SealedField
from accounts.errors import CredentialUnreadable
from gr8d.config import DEV_CREDENTIALS_ENCRYPTION_KEY

ROW = uuid.UUID("00000000-0000-4000-8000-000000000001")
OWNER = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
PLAINTEXT = "binance-api-key-1234"


def setting(*key_ids: str) -> str:
    return ",".join(f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}" for key_id in key_ids)


def seal(cipher: CredentialCipher, plaintext: str = PLAINTEXT) -> str:
    return cipher.seal(plaintext, credential_id=ROW, user_id=OWNER, field=SealedField.API_KEY)


def test_a_sealed_value_opens_to_its_plaintext_and_does_not_contain_it() -> None:
    cipher = CredentialCipher.from_setting(DEV_CREDENTIALS_ENCRYPTION_KEY)
    stored = seal(cipher)
    assert PLAINTEXT not in stored
    assert stored.startswith("v1:dev:")
    opened = cipher.open(stored, credential_id=ROW, user_id=OWNER, field=SealedField.API_KEY)
    assert opened == PLAINTEXT


def test_every_seal_uses_a_fresh_96_bit_nonce() -> None:
    cipher = CredentialCipher.from_setting(DEV_CREDENTIALS_ENCRYPTION_KEY)
    sealed = [base64.b64decode(seal(cipher).rpartition(":")[2]) for _ in range(50)]
    nonces = {raw[:NONCE_BYTES] for raw in sealed}
    assert len(nonces) == 50
    # nonce + ciphertext of the same length as the plaintext + 16-byte tag
    assert {len(raw) for raw in sealed} == {NONCE_BYTES + len(PLAINTEXT) + 16}


@pytest.mark.parametrize(
    ("credential_id", "user_id", "field"),
    [
        (uuid.uuid4(), OWNER, SealedField.API_KEY),
        (ROW, uuid.uuid4(), SealedField.API_KEY),
        (ROW, OWNER, SealedField.API_SECRET),
    ],
    ids=["another row", "another owner", "the other column"],
)
def test_a_value_moved_elsewhere_does_not_open(
    credential_id: uuid.UUID, user_id: uuid.UUID, field: SealedField
) -> None:
    cipher = CredentialCipher.from_setting(DEV_CREDENTIALS_ENCRYPTION_KEY)
    stored = seal(cipher)
    with pytest.raises(CredentialUnreadable, match="does not authenticate"):
        cipher.open(stored, credential_id=credential_id, user_id=user_id, field=field)


def test_a_flipped_bit_does_not_open() -> None:
    cipher = CredentialCipher.from_setting(DEV_CREDENTIALS_ENCRYPTION_KEY)
    prefix, _, payload = seal(cipher).rpartition(":")
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1
    tampered = f"{prefix}:{base64.b64encode(bytes(raw)).decode()}"
    with pytest.raises(CredentialUnreadable):
        cipher.open(tampered, credential_id=ROW, user_id=OWNER, field=SealedField.API_KEY)


@pytest.mark.parametrize("stored", ["", "plaintext", "v1:dev:***", "v2:dev:AAAA", "v1:dev:AAAA"])
def test_garbage_is_unreadable_not_a_crash(stored: str) -> None:
    cipher = CredentialCipher.from_setting(DEV_CREDENTIALS_ENCRYPTION_KEY)
    with pytest.raises(CredentialUnreadable):
        cipher.open(stored, credential_id=ROW, user_id=OWNER, field=SealedField.API_KEY)


def test_the_first_key_seals_and_older_keys_still_open() -> None:
    old_setting = setting("2024")
    old = CredentialCipher.from_setting(old_setting)
    stored_with_old = seal(old)
    rotated = CredentialCipher.from_setting(f"{setting('2025')},{old_setting}")
    assert rotated.current_key_id == "2025"
    assert CredentialCipher.key_id_of(seal(rotated)) == "2025"
    opened = rotated.open(
        stored_with_old, credential_id=ROW, user_id=OWNER, field=SealedField.API_KEY
    )
    assert opened == PLAINTEXT


def test_a_value_sealed_with_a_removed_key_is_unreadable() -> None:
    stored = seal(CredentialCipher.from_setting(setting("gone")))
    cipher = CredentialCipher.from_setting(setting("new"))
    with pytest.raises(CredentialUnreadable, match="'gone' is not configured"):
        cipher.open(stored, credential_id=ROW, user_id=OWNER, field=SealedField.API_KEY)


def test_unicode_survives_the_round_trip() -> None:
    cipher = CredentialCipher.from_setting(DEV_CREDENTIALS_ENCRYPTION_KEY)
    stored = seal(cipher, "clé-ключ-鍵-🔑")
    opened = cipher.open(stored, credential_id=ROW, user_id=OWNER, field=SealedField.API_KEY)
    assert opened == "clé-ключ-鍵-🔑"
