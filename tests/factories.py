"""Rows the tests build on, inserted through the real database."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db import ledger
from db.enums import TransactionType
from db.models import Execution, Strategy, User
from settlement import service

MINIMAL_DEFINITION: dict[str, Any] = {
    "nodes": [{"id": "t", "type": "trigger", "config": {}}],
    "edges": [],
}


async def add_user(session: AsyncSession, *, credits: int = 0, **values: Any) -> uuid.UUID:
    values.setdefault("email", f"user-{uuid.uuid4().hex[:10]}@example.com")
    values.setdefault("hashed_password", "argon2id-hash-placeholder")
    user_id: uuid.UUID = (
        await session.execute(insert(User).values(**values).returning(User.id))
    ).scalar_one()
    if credits:
        await ledger.post(session, user_id=user_id, amount=credits, type=TransactionType.PURCHASE)
    return user_id


async def add_strategy(session: AsyncSession, user_id: uuid.UUID, **values: Any) -> uuid.UUID:
    values.setdefault("name", "strategy")
    values.setdefault("definition", MINIMAL_DEFINITION)
    strategy_id: uuid.UUID = (
        await session.execute(
            insert(Strategy).values(user_id=user_id, **values).returning(Strategy.id)
        )
    ).scalar_one()
    return strategy_id


async def add_execution(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    strategy_id: uuid.UUID,
    amount: str,
    price: str,
    executed_at: dt.datetime,
    side: str = "BUY",
    status: str = "FILLED",
) -> uuid.UUID:
    filled = status == "FILLED"
    execution_id: uuid.UUID = (
        await session.execute(
            insert(Execution)
            .values(
                user_id=user_id,
                strategy_id=strategy_id,
                symbol="BTC/USDT",
                side=side,
                order_type="MARKET",
                amount=Decimal(amount),
                executed_price=Decimal(price) if filled else None,
                executed_at=executed_at if filled else None,
                status=status,
            )
            .returning(Execution.id)
        )
    ).scalar_one()
    return execution_id


def policy(**overrides: Any) -> service.Policy:
    """settlement.md's production defaults, with the given changes."""
    values: dict[str, Any] = {
        "base_fee_bps": 20,
        "credits_per_usdt0": 100,
        "blockchain_enabled": False,
        "expiry_days": 7,
        "royalty_auto_pay": True,
        **overrides,
    }
    return service.Policy(**values)


async def add_follower_trade(
    session: AsyncSession,
    *,
    author: uuid.UUID,
    executed_at: dt.datetime,
    credits: int = 0,
    amount: str = "1",
    price: str = "1000",
    **user_values: Any,
) -> uuid.UUID:
    """A new user who traded `amount` at `price` on a new strategy of `author`."""
    follower = await add_user(session, credits=credits, **user_values)
    strategy = await add_strategy(session, author)
    await add_execution(
        session,
        user_id=follower,
        strategy_id=strategy,
        amount=amount,
        price=price,
        executed_at=executed_at,
    )
    return follower
