"""/api/v1 routes of the credentials area (api.md "Resources": credentials).

Keys come in as plaintext and are sealed at once (accounts/credentials.py); every answer shows
the last 4 characters of the key at most.
"""

from __future__ import annotations

import uuid

from accounts import credentials
from accounts.credentials import CredentialCipher
from api.pagination import Page, paginate
from api.registry import Call, Routes
from api.schemas.credentials import (
    CredentialIn,
    CredentialOut,
    CredentialPatch,
    CredentialQuery,
)
from db.enums import CredentialType
from db.models import Credential

routes = Routes("credentials")


def _cipher(call: Call) -> CredentialCipher:
    return CredentialCipher.from_setting(call.settings.credentials_encryption_key)


def _masked(cipher: CredentialCipher, credential: Credential) -> CredentialOut:
    return CredentialOut(
        id=credential.id,
        type=CredentialType(credential.type),
        provider=credential.provider,
        nickname=credential.nickname,
        api_key_last4=credentials.masked_key(cipher, credential),
        has_secret=credential.encrypted_api_secret is not None,
        is_active=credential.is_active,
        created_at=credential.created_at,
        updated_at=credential.updated_at,
    )


@routes.get("/credentials")
async def list_credentials(call: Call, query: CredentialQuery) -> Page[CredentialOut]:
    """My exchange and LLM credentials, masked, newest first.

    A credential whose stored key no longer decrypts shows `api_key_last4: null`."""
    cipher = _cipher(call)
    statement = credentials.credentials_of(user_id=call.user.id, type=query.type)
    return await paginate(call.session, statement, query, lambda row: _masked(cipher, row))


@routes.post("/credentials", status=201)
async def add_credential(call: Call, body: CredentialIn) -> CredentialOut:
    """Store an exchange or LLM API key (and secret), encrypted."""
    cipher = _cipher(call)
    credential = await credentials.add_credential(
        call.session,
        cipher=cipher,
        user_id=call.user.id,
        type=body.type,
        provider=body.provider,
        api_key=body.api_key.get_secret_value(),
        api_secret=None if body.api_secret is None else body.api_secret.get_secret_value(),
        nickname=body.nickname,
    )
    return _masked(cipher, credential)


@routes.get("/credentials/{credential_id}")
async def get_credential(call: Call, credential_id: uuid.UUID) -> CredentialOut:
    """One of my credentials, masked."""
    credential = await credentials.credential_of(
        call.session, user_id=call.user.id, credential_id=credential_id
    )
    return _masked(_cipher(call), credential)


@routes.patch("/credentials/{credential_id}")
async def update_credential(
    call: Call, credential_id: uuid.UUID, body: CredentialPatch
) -> CredentialOut:
    """Rename, (de)activate, or replace the key or secret of one of my credentials."""
    cipher = _cipher(call)
    credential = await credentials.update_credential(
        call.session,
        cipher=cipher,
        user_id=call.user.id,
        credential_id=credential_id,
        changes=body.changes(),
    )
    return _masked(cipher, credential)


@routes.delete("/credentials/{credential_id}")
async def delete_credential(call: Call, credential_id: uuid.UUID) -> None:
    """Delete one of my credentials for good."""
    await credentials.delete_credential(
        call.session, user_id=call.user.id, credential_id=credential_id
    )
