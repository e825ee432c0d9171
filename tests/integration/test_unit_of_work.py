from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import User
from db.uow import UnitOfWork
from tests.factories import add_user


async def _users(session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_work_that_is_committed_is_kept(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with UnitOfWork(session_factory) as uow:
        await add_user(uow.session)
        await uow.commit()
    assert await _users(session_factory) == 1


async def test_work_that_is_not_committed_is_rolled_back(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with UnitOfWork(session_factory) as uow:
        await add_user(uow.session)
    assert await _users(session_factory) == 0


async def test_an_error_inside_the_unit_rolls_everything_back(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(RuntimeError):
        async with UnitOfWork(session_factory) as uow:
            await add_user(uow.session)
            raise RuntimeError("step failed")
    assert await _users(session_factory) == 0


def test_the_session_is_only_there_inside_the_block(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        _ = UnitOfWork(session_factory).session
