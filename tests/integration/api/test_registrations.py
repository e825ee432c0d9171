"""On-chain registration of a strategy: the PENDING row the client submits, and the events the
indexer already holds for it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import StrategyRegistration, Wallet
from tests.factories import add_strategy
from tests.integration.api.chain_rows import add_chain_event
from tests.integration.api.conftest import SignedIn, SignIn

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]
AUTHOR_WALLET = "0x" + "a1" * 20


async def author_with_strategy(
    sign_in: SignIn, session_factory: Sessions, *, wallet: str | None = AUTHOR_WALLET, **values: Any
) -> tuple[SignedIn, uuid.UUID]:
    me = await sign_in()
    async with session_factory() as session, session.begin():
        strategy_id = await add_strategy(session, me.user_id, **values)
        if wallet is not None:
            await session.execute(
                insert(Wallet).values(user_id=me.user_id, address=wallet, is_verified=True)
            )
    return me, strategy_id


async def registrations(session_factory: Sessions) -> list[StrategyRegistration]:
    async with session_factory() as session:
        return list(await session.scalars(select(StrategyRegistration)))


async def test_a_registration_is_created_pending_with_the_strategys_uri(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, strategy_id = await author_with_strategy(sign_in, session_factory)

    response = await client.post(
        f"/api/v1/strategies/{strategy_id}/registration", headers=me.headers
    )

    body = await response.json()
    assert response.status == 201
    assert body["status"] == "PENDING"
    assert body["metadata_uri"] == f"gr8d://strategies/{strategy_id}"
    [row] = await registrations(session_factory)
    assert row.strategy_id == strategy_id and row.author_id == me.user_id
    assert row.status == "PENDING" and row.metadata_uri == body["metadata_uri"]
    assert row.onchain_strategy_id is None and str(row.id) == body["id"]


async def test_asking_again_returns_the_same_registration(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, strategy_id = await author_with_strategy(sign_in, session_factory)
    path = f"/api/v1/strategies/{strategy_id}/registration"

    first = await (await client.post(path, headers=me.headers)).json()
    second = await (await client.post(path, headers=me.headers)).json()
    read = await client.get(path, headers=me.headers)

    assert first["id"] == second["id"] == (await read.json())["id"]
    assert len(await registrations(session_factory)) == 1


async def test_registering_needs_a_verified_wallet(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, strategy_id = await author_with_strategy(sign_in, session_factory, wallet=None)

    response = await client.post(
        f"/api/v1/strategies/{strategy_id}/registration", headers=me.headers
    )

    assert response.status == 409
    assert (await response.json(content_type=None))["code"] == "VERIFIED_WALLET_REQUIRED"
    assert await registrations(session_factory) == []


async def test_an_archived_strategy_is_not_registered(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, strategy_id = await author_with_strategy(sign_in, session_factory, status="ARCHIVED")

    response = await client.post(
        f"/api/v1/strategies/{strategy_id}/registration", headers=me.headers
    )

    assert response.status == 409
    assert (await response.json(content_type=None))["code"] == "STRATEGY_ARCHIVED"


async def test_a_creation_already_on_chain_registers_it_at_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, strategy_id = await author_with_strategy(sign_in, session_factory)
    created_at = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    async with session_factory() as session, session.begin():
        tx_hash = await add_chain_event(
            session,
            "StrategyCreated",
            {
                "strategyId": 7,
                "author": AUTHOR_WALLET,
                "metadataURI": f"gr8d://strategies/{strategy_id}",
            },
            block_number=12,
            at=created_at,
            status="PARKED",
        )

    response = await client.post(
        f"/api/v1/strategies/{strategy_id}/registration", headers=me.headers
    )

    body = await response.json()
    assert response.status == 201
    assert body["status"] == "REGISTERED" and body["onchain_strategy_id"] == 7
    assert body["onchain_status"] == "DRAFT" and body["onchain_tx_hash"] == tx_hash
    [row] = await registrations(session_factory)
    assert row.status == "REGISTERED" and row.registered_at == created_at

    again = await client.post(f"/api/v1/strategies/{strategy_id}/registration", headers=me.headers)
    assert again.status == 409
    assert (await again.json(content_type=None))["code"] == "ALREADY_REGISTERED"


async def test_no_registration_yet_is_not_found(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, strategy_id = await author_with_strategy(sign_in, session_factory)

    response = await client.get(
        f"/api/v1/strategies/{strategy_id}/registration", headers=me.headers
    )

    assert response.status == 404
    assert (await response.json(content_type=None))["code"] == "REGISTRATION_NOT_FOUND"


async def test_another_users_strategy_cannot_be_registered_or_read(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, strategy_id = await author_with_strategy(sign_in, session_factory, is_public=True)
    await client.post(f"/api/v1/strategies/{strategy_id}/registration", headers=author.headers)
    me, _ = await author_with_strategy(sign_in, session_factory, wallet="0x" + "b2" * 20)
    path = f"/api/v1/strategies/{strategy_id}/registration"

    created = await client.post(path, headers=me.headers)
    read = await client.get(path, headers=me.headers)

    assert created.status == 404 and read.status == 404
    [row] = await registrations(session_factory)
    assert row.author_id == author.user_id


async def test_registration_routes_need_a_token(client: Client) -> None:
    path = f"/api/v1/strategies/{uuid.UUID(int=1)}/registration"
    assert (await client.post(path)).status == 401
    assert (await client.get(path)).status == 401
