"""Staking over HTTP: my indexed records, and the summary the fees and quotas follow."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.siwe import checksum
from db.models import StakingRecord, User, Wallet
from gr8d.config import Settings
from tests.integration.api.chain_rows import WEI_PER_G8D, add_chain_event
from tests.integration.api.conftest import SignIn, start_client

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]
MY_WALLET = "0x" + "c3" * 20
MY_OTHER_WALLET = "0x" + "c4" * 20
THEIR_WALLET = "0x" + "d4" * 20
NOON = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


@pytest.fixture
async def chain_client(api_settings: Settings, flushed_redis: None) -> AsyncIterator[Client]:
    """The API with BLOCKCHAIN_ENABLED: tiers come from the stake."""
    client = await start_client(api_settings.model_copy(update={"blockchain_enabled": True}))
    try:
        yield client
    finally:
        await client.close()


async def add_record(
    session_factory: Sessions,
    user_id: uuid.UUID,
    kind: str,
    g8d: str,
    *,
    block: int,
    status: str = "CONFIRMED",
    wallet: str = MY_WALLET,
) -> uuid.UUID:
    async with session_factory() as session, session.begin():
        record_id: uuid.UUID = (
            await session.execute(
                insert(StakingRecord)
                .values(
                    user_id=user_id,
                    amount=Decimal(g8d),
                    type=kind,
                    status=status,
                    tier=0,
                    wallet_address=wallet,
                    onchain_tx_hash="0x" + uuid.uuid4().hex * 2,
                    block_number=block,
                    log_index=0,
                )
                .returning(StakingRecord.id)
            )
        ).scalar_one()
    return record_id


async def add_wallet(session_factory: Sessions, user_id: uuid.UUID, address: str) -> None:
    async with session_factory() as session, session.begin():
        await session.execute(
            insert(Wallet).values(user_id=user_id, address=address, is_verified=True)
        )


async def event(
    session_factory: Sessions, name: str, wallet: str, g8d: int, *, block: int, at: dt.datetime
) -> None:
    async with session_factory() as session, session.begin():
        await add_chain_event(
            session,
            name,
            {"user": wallet, "amount": g8d * WEI_PER_G8D, "timestamp": int(at.timestamp())},
            block_number=block,
            at=at,
            status="RAW_ONLY",
        )


async def summary(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/staking/summary", headers=headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_my_records_are_listed_newest_block_first_and_only_mine(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    first = await add_record(session_factory, me.user_id, "STAKE", "6000", block=5)
    later = await add_record(session_factory, me.user_id, "UNSTAKE", "1000.5", block=9)
    await add_record(session_factory, other.user_id, "STAKE", "1", block=7, wallet=THEIR_WALLET)

    response = await client.get("/api/v1/staking", headers=me.headers)
    body = await response.json()

    assert response.status == 200 and body["total"] == 2
    assert [item["id"] for item in body["items"]] == [str(later), str(first)]
    newest = body["items"][0]
    assert newest["type"] == "UNSTAKE" and Decimal(newest["amount"]) == Decimal("1000.5")
    assert newest["wallet_address"] == checksum(MY_WALLET)
    stakes = await client.get("/api/v1/staking?type=STAKE", headers=me.headers)
    assert [item["id"] for item in (await stakes.json())["items"]] == [str(first)]


async def test_a_summary_with_nothing_staked_is_tier_zero(
    chain_client: Client, sign_in: SignIn
) -> None:
    me = await sign_in()

    body = await summary(chain_client, me.headers)

    assert Decimal(body["staked_g8d"]) == 0 and body["tier"] == 0
    assert (body["follow_quota"], body["discount_bps"], body["author_rate_bps"]) == (1, 0, 1000)
    assert Decimal(body["pending_unstake"]) == 0 and body["cooldown_ends_at"] is None


async def test_the_stake_sets_tier_discount_rate_and_follow_quota(
    chain_client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    await add_record(session_factory, me.user_id, "STAKE", "30000", block=1)
    await add_record(session_factory, me.user_id, "STAKE", "25000", block=2, status="PENDING")
    await add_record(session_factory, me.user_id, "UNSTAKE", "10000", block=3)
    await add_record(session_factory, me.user_id, "STAKE", "1000000", block=4, status="FAILED")

    body = await summary(chain_client, me.headers)

    assert Decimal(body["staked_g8d"]) == Decimal(45000)
    assert body["tier"] == 2 and body["manual_tier"] is None
    assert (body["follow_quota"], body["discount_bps"], body["author_rate_bps"]) == (10, 2000, 1100)


async def test_an_admins_manual_tier_wins_over_the_stake(
    chain_client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    await add_record(session_factory, me.user_id, "STAKE", "60000", block=1)
    async with session_factory() as session, session.begin():
        await session.execute(update(User).where(User.id == me.user_id).values(manual_tier=5))

    body = await summary(chain_client, me.headers)

    assert Decimal(body["staked_g8d"]) == 60000 and body["tier"] == 5
    assert (body["follow_quota"], body["discount_bps"], body["author_rate_bps"]) == (
        100,
        5000,
        2000,
    )


async def test_without_the_chain_the_stake_gives_no_tier(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    await add_record(session_factory, me.user_id, "STAKE", "60000", block=1)

    body = await summary(client, me.headers)

    assert Decimal(body["staked_g8d"]) == 60000 and body["tier"] == 0


async def test_an_unstake_request_waits_seven_days_until_withdrawn(
    chain_client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    await add_wallet(session_factory, me.user_id, MY_WALLET)
    await add_wallet(session_factory, other.user_id, THEIR_WALLET)
    await event(session_factory, "UnstakeRequested", MY_WALLET, 1000, block=10, at=NOON)
    await event(session_factory, "UnstakeRequested", THEIR_WALLET, 50, block=11, at=NOON)

    waiting = await summary(chain_client, me.headers)

    assert Decimal(waiting["pending_unstake"]) == 1000
    assert waiting["cooldown_ends_at"] == "2026-11-27T12:00:00Z"
    [pending] = waiting["pending_unstakes"]
    assert pending["wallet_address"].lower() == MY_WALLET

    await event(session_factory, "Withdrawn", MY_WALLET, 1000, block=20, at=NOON.replace(day=28))
    paid = await summary(chain_client, me.headers)
    assert Decimal(paid["pending_unstake"]) == 0 and paid["cooldown_ends_at"] is None

    await event(
        session_factory, "UnstakeRequested", MY_WALLET, 300, block=30, at=NOON.replace(day=29)
    )
    again = await summary(chain_client, me.headers)
    assert Decimal(again["pending_unstake"]) == 300
    assert again["cooldown_ends_at"] == "2026-12-06T12:00:00Z"


async def test_pending_unstakes_of_several_wallets_add_up(
    chain_client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    await add_wallet(session_factory, me.user_id, MY_WALLET)
    await add_wallet(session_factory, me.user_id, MY_OTHER_WALLET)
    await event(session_factory, "UnstakeRequested", MY_WALLET, 100, block=10, at=NOON)
    later = NOON + dt.timedelta(days=2)
    await event(session_factory, "UnstakeRequested", MY_OTHER_WALLET, 250, block=12, at=later)

    body = await summary(chain_client, me.headers)

    assert Decimal(body["pending_unstake"]) == 350
    assert body["cooldown_ends_at"] == "2026-11-29T12:00:00Z"
    assert len(body["pending_unstakes"]) == 2


async def test_staking_routes_need_a_token(client: Client) -> None:
    assert (await client.get("/api/v1/staking")).status == 401
    assert (await client.get("/api/v1/staking/summary")).status == 401
