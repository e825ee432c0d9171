"""Sessions of read-only work (GET routes): no transaction around their statements, and no
writes."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import WriteRefused, create_read_session_factory
from db.models import User


async def test_each_statement_of_a_read_session_runs_in_a_transaction_of_its_own(
    engine: AsyncEngine,
) -> None:
    sessions = create_read_session_factory(engine)
    async with sessions() as session, session.begin():
        first = await session.scalar(text("SELECT transaction_timestamp()"))
        await session.execute(text("SELECT pg_sleep(0.05)"))
        second = await session.scalar(text("SELECT transaction_timestamp()"))

    assert first is not None and second is not None
    assert (second - first).total_seconds() >= 0.05


async def test_a_read_session_refuses_to_write(engine: AsyncEngine) -> None:
    sessions = create_read_session_factory(engine)
    async with sessions() as session:
        session.add(User(email="nobody@example.com", hashed_password="x"))

        with pytest.raises(WriteRefused):
            await session.flush()
