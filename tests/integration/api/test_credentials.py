"""Credentials over HTTP: sealed at rest, masked on the way out, bound to their row and owner."""

from __future__ import annotations

import uuid

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.credentials import CredentialCipher, reseal_all, reveal
from accounts.errors import CredentialUnreadable
from db.models import Credential
from gr8d.config import Settings
from tests.integration.api.conftest import SignedIn, SignIn

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

API_KEY = "AKIA-live-key-7f3c9e21-WXYZ"
API_SECRET = "s3cr3t-very-long-exchange-secret-value"
NEW_BODY = {
    "type": "EXCHANGE",
    "provider": "binance",
    "api_key": API_KEY,
    "api_secret": API_SECRET,
    "nickname": "main account",
}


async def add(client: Client, owner: SignedIn, **changes: object) -> dict[str, object]:
    response = await client.post(
        "/api/v1/credentials", json=NEW_BODY | changes, headers=owner.headers
    )
    assert response.status == 201, await response.text()
    body: dict[str, object] = await response.json()
    return body


async def stored_row(session_factory: Sessions, credential_id: object) -> Credential:
    async with session_factory() as session:
        return await session.get_one(Credential, uuid.UUID(str(credential_id)))


def cipher_of(settings: Settings) -> CredentialCipher:
    return CredentialCipher.from_setting(settings.credentials_encryption_key)


async def test_a_new_credential_is_stored_sealed_and_shown_masked(
    client: Client, sign_in: SignIn, session_factory: Sessions, api_settings: Settings
) -> None:
    owner = await sign_in()
    shown = await add(client, owner)
    assert shown["api_key_last4"] == "WXYZ"
    assert shown["has_secret"] is True and shown["provider"] == "binance"
    assert API_KEY not in str(shown) and API_SECRET not in str(shown)
    row = await stored_row(session_factory, shown["id"])
    assert row.user_id == owner.user_id
    revealed = reveal(cipher_of(api_settings), row)
    assert (revealed.api_key, revealed.api_secret) == (API_KEY, API_SECRET)


async def test_no_column_of_the_table_holds_the_plaintext(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in()
    shown = await add(client, owner)
    async with session_factory() as session:
        row = (
            await session.execute(
                text("SELECT * FROM credentials WHERE id = :id"), {"id": shown["id"]}
            )
        ).one()
    everything = " ".join(str(value) for value in row)
    for secret in (API_KEY, API_SECRET, API_KEY[4:-4], API_SECRET[8:-8]):
        assert secret not in everything


async def test_the_list_is_mine_masked_and_filtered_by_type(
    client: Client, sign_in: SignIn
) -> None:
    owner = await sign_in()
    other = await sign_in()
    await add(client, owner)
    await add(client, owner, type="LLM", provider="openai", api_key="sk-abcdefgh1234")
    await add(client, other)
    everything = await client.get("/api/v1/credentials", headers=owner.headers)
    llm = await client.get("/api/v1/credentials", params={"type": "LLM"}, headers=owner.headers)
    page = await everything.json()
    assert page["total"] == 2
    assert [item["api_key_last4"] for item in page["items"]] == ["1234", "WXYZ"]
    assert [item["provider"] for item in (await llm.json())["items"]] == ["openai"]
    assert API_KEY not in await everything.text()


async def test_a_credential_without_secret_or_nickname(client: Client, sign_in: SignIn) -> None:
    owner = await sign_in()
    body = {"type": "LLM", "provider": "anthropic", "api_key": "sk-ant-000011112222"}
    response = await client.post("/api/v1/credentials", json=body, headers=owner.headers)
    shown = await response.json()
    assert response.status == 201
    assert shown["has_secret"] is False and shown["nickname"] is None
    assert shown["api_key_last4"] == "2222"


async def test_invalid_credentials_are_422_without_echoing_the_key(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in()
    cases = {
        "type": NEW_BODY | {"type": "BANK"},
        "api_key": NEW_BODY | {"api_key": "k3y!z"},
        "provider": NEW_BODY | {"provider": ""},
        "api_secret": NEW_BODY | {"api_secret": "tiny"},
        "extra": NEW_BODY | {"extra": True},
    }
    for field, body in cases.items():
        response = await client.post("/api/v1/credentials", json=body, headers=owner.headers)
        problem = await response.json(content_type=None)
        assert response.status == 422, field
        assert problem["errors"][0]["loc"] == ["body", field]
        assert "k3y!z" not in await response.text()
        assert API_SECRET not in await response.text()
    missing_key = {key: value for key, value in NEW_BODY.items() if key != "api_key"}
    response = await client.post("/api/v1/credentials", json=missing_key, headers=owner.headers)
    assert response.status == 422
    async with session_factory() as session:
        assert (await session.scalars(select(Credential))).all() == []


async def test_credentials_need_a_token(client: Client) -> None:
    assert (await client.get("/api/v1/credentials")).status == 401
    assert (await client.post("/api/v1/credentials", json=NEW_BODY)).status == 401


async def test_another_users_credential_is_404_everywhere(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in()
    intruder = await sign_in()
    shown = await add(client, owner)
    url = f"/api/v1/credentials/{shown['id']}"
    read = await client.get(url, headers=intruder.headers)
    patched = await client.patch(url, json={"nickname": "mine"}, headers=intruder.headers)
    deleted = await client.delete(url, headers=intruder.headers)
    assert read.status == patched.status == deleted.status == 404
    assert (await deleted.json(content_type=None))["code"] == "CREDENTIAL_NOT_FOUND"
    row = await stored_row(session_factory, shown["id"])
    assert row.nickname == "main account"


async def test_patch_renames_deactivates_and_replaces_the_key(
    client: Client, sign_in: SignIn, session_factory: Sessions, api_settings: Settings
) -> None:
    owner = await sign_in()
    shown = await add(client, owner)
    url = f"/api/v1/credentials/{shown['id']}"
    renamed = await client.patch(
        url, json={"nickname": "spare", "is_active": False}, headers=owner.headers
    )
    rekeyed = await client.patch(
        url, json={"api_key": "new-key-0000-9876", "api_secret": None}, headers=owner.headers
    )
    assert renamed.status == rekeyed.status == 200
    body = await rekeyed.json()
    assert body["nickname"] == "spare" and body["is_active"] is False
    assert body["api_key_last4"] == "9876" and body["has_secret"] is False
    row = await stored_row(session_factory, shown["id"])
    assert reveal(cipher_of(api_settings), row).api_key == "new-key-0000-9876"


async def test_patch_refuses_removing_the_key_and_unknown_fields(
    client: Client, sign_in: SignIn
) -> None:
    owner = await sign_in()
    shown = await add(client, owner)
    url = f"/api/v1/credentials/{shown['id']}"
    for body, field in (({"api_key": None}, "api_key"), ({"type": "LLM"}, "type")):
        response = await client.patch(url, json=body, headers=owner.headers)
        assert response.status == 422
        assert (await response.json(content_type=None))["errors"][0]["loc"] == ["body", field]


async def test_delete_removes_the_row(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    owner = await sign_in()
    shown = await add(client, owner)
    response = await client.delete(f"/api/v1/credentials/{shown['id']}", headers=owner.headers)
    assert response.status == 204
    async with session_factory() as session:
        assert await session.get(Credential, uuid.UUID(str(shown["id"]))) is None
    again = await client.delete(f"/api/v1/credentials/{shown['id']}", headers=owner.headers)
    assert again.status == 404


@pytest.mark.parametrize("column", ["user_id", "id"])
async def test_a_row_whose_owner_or_id_was_changed_no_longer_decrypts(
    column: str,
    client: Client,
    sign_in: SignIn,
    session_factory: Sessions,
    api_settings: Settings,
) -> None:
    owner = await sign_in()
    thief = await sign_in()
    shown = await add(client, owner)
    new_value = thief.user_id if column == "user_id" else uuid.uuid4()
    async with session_factory() as session, session.begin():
        await session.execute(
            text(f"UPDATE credentials SET {column} = :value WHERE id = :id"),
            {"value": new_value, "id": shown["id"]},
        )
    async with session_factory() as session:
        row = (await session.scalars(select(Credential))).one()
    with pytest.raises(CredentialUnreadable, match="does not authenticate"):
        reveal(cipher_of(api_settings), row)
    holder = thief if column == "user_id" else owner
    listed = await client.get("/api/v1/credentials", headers=holder.headers)
    one = await client.get(f"/api/v1/credentials/{row.id}", headers=holder.headers)
    assert listed.status == 200 and one.status == 200
    assert (await listed.json())["items"][0]["api_key_last4"] is None
    assert (await one.json())["api_key_last4"] is None


async def test_reseal_moves_old_rows_to_the_first_key(
    client: Client, sign_in: SignIn, session_factory: Sessions, api_settings: Settings
) -> None:
    owner = await sign_in()
    shown = await add(client, owner)
    new_key = "2025:" + "A" * 43 + "="
    rotated = CredentialCipher.from_setting(f"{new_key},{api_settings.credentials_encryption_key}")
    async with session_factory() as session, session.begin():
        assert await reseal_all(session, cipher=rotated) == 1
        assert await reseal_all(session, cipher=rotated) == 0
    row = await stored_row(session_factory, shown["id"])
    assert CredentialCipher.key_id_of(row.encrypted_api_key) == "2025"
    assert reveal(rotated, row).api_secret == API_SECRET
