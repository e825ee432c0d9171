"""The gr8d side of the indexer projection tests: users with wallets, strategies with their
registrations, settlements and day commits, built through the real database; a follower over
a test chain; and dumps of what the projections wrote, keyed by what a clean run reproduces
(emails, strategy names, chain coordinates), never by generated ids or wall-clock times."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.models import Base, DayCommit, Settlement, StrategyRegistration, Wallet
from indexer.follower import ChainFollower
from indexer.rpc import JsonRpc
from tests.chain import Protocol
from tests.factories import add_strategy, add_user


def email(name: str) -> str:
    return f"{name}@example.com"


def uri(name: str) -> str:
    return f"gr8d://strategies/{name}"


async def add_person(session: AsyncSession, name: str, *wallets: str) -> uuid.UUID:
    """A user named `name` with these addresses as verified wallets."""
    user_id = await add_user(session, email=email(name))
    for address in wallets:
        await add_wallet(session, user_id, address)
    return user_id


async def add_wallet(
    session: AsyncSession, user_id: uuid.UUID, address: str, *, verified: bool = True
) -> None:
    await session.execute(
        insert(Wallet).values(user_id=user_id, address=address.lower(), is_verified=verified)
    )


async def verify_wallet(session: AsyncSession, address: str) -> None:
    await session.execute(
        text("UPDATE wallets SET is_verified = true WHERE address = :address"),
        {"address": address.lower()},
    )


async def add_registered_strategy(
    session: AsyncSession, author_id: uuid.UUID, name: str
) -> uuid.UUID:
    """A strategy named `name` whose PENDING registration has the URI uri(name)."""
    strategy_id = await add_strategy(session, author_id, name=name)
    await add_registration(session, strategy_id, author_id, name)
    return strategy_id


async def add_registration(
    session: AsyncSession, strategy_id: uuid.UUID, author_id: uuid.UUID, name: str
) -> None:
    await session.execute(
        insert(StrategyRegistration).values(
            strategy_id=strategy_id, author_id=author_id, metadata_uri=uri(name)
        )
    )


async def add_settlement(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    strategy_id: uuid.UUID,
    author_id: uuid.UUID,
    day_index: int,
    paid_in_credits: bool = False,
) -> None:
    """A settlement of 100 credits (90 platform, 10 author), PENDING or PAID in credits."""
    await session.execute(
        insert(Settlement).values(
            user_id=user_id,
            strategy_id=strategy_id,
            author_id=author_id,
            day_index=day_index,
            total_volume=Decimal("500"),
            fee_amount=Decimal("1"),
            fee_credits=100,
            author_fee_credits=10,
            platform_fee_credits=90,
            status="PAID" if paid_in_credits else "PENDING",
            paid_via="CREDITS" if paid_in_credits else None,
            paid_at=text("now()") if paid_in_credits else None,
        )
    )


async def add_day_commit(
    session: AsyncSession, strategy_id: uuid.UUID, day_index: int, root: str
) -> None:
    await session.execute(
        insert(DayCommit).values(
            strategy_id=strategy_id,
            day_index=day_index,
            merkle_root=root,
            leaf_count=1,
            total_volume=Decimal("500"),
        )
    )


async def empty_all_tables(engine: AsyncEngine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@asynccontextmanager
async def follower_of(
    chain: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    batch_blocks: int = 1_000,
) -> AsyncIterator[ChainFollower]:
    async with aiohttp.ClientSession() as http:
        yield ChainFollower(
            rpc=JsonRpc(http, chain.anvil.url),
            session_factory=session_factory,
            deployments=chain.deployments,
            batch_blocks=batch_blocks,
        )


async def index_to_head(
    chain: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    batch_blocks: int = 1_000,
) -> int:
    """Index every block up to the chain's head; returns the head."""
    head = await chain.w3.eth.block_number
    await index_until(chain, session_factory, head, batch_blocks=batch_blocks)
    return head


async def index_until(
    chain: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    last_block: int,
    *,
    batch_blocks: int = 1_000,
) -> None:
    async with follower_of(chain, session_factory, batch_blocks=batch_blocks) as follower:
        await follower.index_until(last_block)


_DUMPS = {
    "chain_events": """
        SELECT chain_id, block_number, log_index, block_hash, block_timestamp, tx_hash,
               contract_address, event_name, topics, data, args, projection_status,
               projection_error
        FROM chain_events ORDER BY chain_id, block_number, log_index
    """,
    "staking_records": """
        SELECT u.email, r.amount, r.tier, r.type, r.onchain_tx_hash, r.status,
               r.confirmed_at IS NOT NULL AS confirmed, r.wallet_address, r.block_number,
               r.log_index
        FROM staking_records AS r JOIN users AS u ON u.id = r.user_id
        ORDER BY r.block_number, r.log_index
    """,
    "strategy_registrations": """
        SELECT s.name, a.email, r.onchain_strategy_id, r.merkle_root, r.onchain_tx_hash,
               r.status, r.registered_at, r.metadata_uri, r.onchain_status
        FROM strategy_registrations AS r
        JOIN strategies AS s ON s.id = r.strategy_id JOIN users AS a ON a.id = r.author_id
        ORDER BY s.name
    """,
    "follows": """
        SELECT f.email AS follower, a.email AS following, s.name, w.is_active,
               w.onchain_tx_hash
        FROM follows AS w
        JOIN users AS f ON f.id = w.follower_id JOIN users AS a ON a.id = w.following_id
        LEFT JOIN strategies AS s ON s.id = w.strategy_id
        ORDER BY 1, 2, 3
    """,
    "settlements": """
        SELECT u.email, s.name, t.day_index, t.status, t.onchain_settlement_id,
               t.paid_tx_hash, t.paid_via,
               CASE WHEN t.paid_via = 'ONCHAIN' THEN t.paid_at END AS paid_on_chain_at
        FROM settlements AS t
        JOIN users AS u ON u.id = t.user_id JOIN strategies AS s ON s.id = t.strategy_id
        ORDER BY 1, 2, 3
    """,
    "day_commits": """
        SELECT s.name, d.day_index, d.merkle_root, d.onchain_tx_hash, d.committed_at
        FROM day_commits AS d JOIN strategies AS s ON s.id = d.strategy_id
        ORDER BY 1, 2
    """,
}


async def dump(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """What the projections own, table by table, free of ids and wall-clock times."""
    return {
        table: [tuple(row) for row in await session.execute(text(query))]
        for table, query in _DUMPS.items()
    }


async def statuses(session: AsyncSession) -> list[tuple[str, str, str | None]]:
    """(event, projection status, error) of every event in chain order."""
    rows = await session.execute(
        text(
            "SELECT event_name, projection_status, projection_error FROM chain_events "
            "ORDER BY chain_id, block_number, log_index"
        )
    )
    return [(row[0], row[1], row[2]) for row in rows]
