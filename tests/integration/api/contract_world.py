"""A small world of real rows for the contract tests: a user who owns one of everything (and has
followers, settlements, a royalty), an admin, and another author. List routes then answer with
items and path parameters can name objects that exist, so the declared schemas of successful
answers are checked too, not only those of 404s."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.credentials import CredentialCipher, add_credential
from db.enums import CredentialType
from db.models import AuthorRoyalty, Follow, Ohlcv, Settlement, StakingRecord, Wallet
from gr8d.config import Settings
from settlement import rules, service
from strategies import templates
from strategies.backtests import BacktestRequest, queue_backtest
from tests.factories import add_execution, add_strategy, add_user, policy

RICH = 1_000_000
DEPLOYABLE: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "trigger", "config": {"interval": "1h"}},
        {"id": "buy", "type": "action", "config": {"side": "BUY"}},
    ],
    "edges": [{"from_node": "start", "to_node": "buy"}],
}


@dataclass(frozen=True)
class World:
    owner: uuid.UUID
    admin: uuid.UUID
    path_values: list[dict[str, Any]]
    """Sets of path parameters naming existing objects (the owner's, or ones it may act on)."""


async def seed_world(session: AsyncSession, settings: Settings) -> World:
    owner = await add_user(session, credits=RICH, full_name="Owner")
    admin = await add_user(session, credits=RICH, is_superuser=True)
    author = await add_user(session, credits=RICH)
    strategy = await add_strategy(session, owner, definition=DEPLOYABLE, is_public=True)
    published = await add_strategy(session, owner, definition=DEPLOYABLE, name="published")
    authors_strategy = await add_strategy(session, author, definition=DEPLOYABLE, is_public=True)
    own_template = await templates.publish(
        session,
        author_id=owner,
        strategy_id=published,
        name="own template",
        description="the owner's",
        price_credits=10,
    )
    authors_template = await templates.publish(
        session,
        author_id=author,
        strategy_id=authors_strategy,
        name="author's template",
        description=None,
        price_credits=25,
    )
    await templates.clone(session, cloner_id=owner, template_id=authors_template.id)
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    day_index = rules.day_index_of_date(day)
    traded_at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    execution = await add_execution(
        session,
        user_id=owner,
        strategy_id=authors_strategy,
        amount="0.5",
        price="60000",
        executed_at=traded_at,
    )
    await add_execution(
        session,
        user_id=author,
        strategy_id=strategy,
        amount="2",
        price="3000",
        executed_at=traded_at,
    )
    await add_execution(
        session,
        user_id=owner,
        strategy_id=strategy,
        amount="1",
        price="100",
        executed_at=traded_at,
        status="PENDING",
    )
    await service.settle_day(session, day_index=day_index, policy=policy())
    settlement = await session.scalar(select(Settlement.id).where(Settlement.user_id == owner))
    today = dt.datetime.now(dt.UTC)
    await service.create_royalties(session, year=today.year, month=today.month, policy=policy())
    royalty = await session.scalar(select(AuthorRoyalty.id))
    credential = await add_credential(
        session,
        cipher=CredentialCipher.from_setting(settings.credentials_encryption_key),
        user_id=owner,
        type=CredentialType.EXCHANGE,
        provider="binance",
        api_key="contract-key-1234",
        api_secret="contract-secret",
        nickname="main",
    )
    backtest = await queue_backtest(
        session,
        user_id=owner,
        request=BacktestRequest(
            strategy_id=strategy,
            symbol="BTC/USDT",
            timeframe="1h",
            start_date=traded_at - dt.timedelta(days=30),
            end_date=traded_at,
            initial_capital=Decimal("1000"),
        ),
        cost_credits=settings.backtest_cost_credits,
    )
    wallet = await _add_rows(session, owner=owner, author=author, strategy=strategy, at=traded_at)
    common = {
        "user_id": owner,
        "strategy_id": strategy,
        "execution_id": execution,
        "settlement_id": settlement,
        "royalty_id": royalty,
        "credential_id": credential.id,
        "backtest_id": backtest.id,
        "wallet_id": wallet,
        "day_index": day_index,
    }
    return World(
        owner=owner,
        admin=admin,
        path_values=[
            common | {"template_id": own_template.id},
            common | {"template_id": authors_template.id, "user_id": author},
        ],
    )


async def _add_rows(
    session: AsyncSession,
    *,
    owner: uuid.UUID,
    author: uuid.UUID,
    strategy: uuid.UUID,
    at: dt.datetime,
) -> uuid.UUID:
    """Rows only the indexer or the market feed write: a wallet, follows, staking, candles."""
    wallet: uuid.UUID = (
        await session.execute(
            insert(Wallet)
            .values(user_id=owner, address="0x" + uuid.uuid4().hex + "00000000", is_verified=True)
            .returning(Wallet.id)
        )
    ).scalar_one()
    await session.execute(
        insert(Follow).values(follower_id=author, following_id=owner, strategy_id=strategy)
    )
    await session.execute(
        insert(StakingRecord).values(
            user_id=owner, amount=Decimal("1500.5"), tier=2, type="STAKE", status="CONFIRMED"
        )
    )
    await session.execute(
        insert(Ohlcv).values(
            [
                {
                    "symbol": "BTC/USDT",
                    "timeframe": "1h",
                    "timestamp": at + dt.timedelta(hours=hour),
                    "open": Decimal("60000"),
                    "high": Decimal("60500.5"),
                    "low": Decimal("59900"),
                    "close": Decimal("60100"),
                    "volume": Decimal("12.5"),
                }
                for hour in range(3)
            ]
        )
    )
    return wallet
