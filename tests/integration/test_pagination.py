"""api/pagination.py's paginate: a page and the total of a list, in one query when it can."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.pagination import PageQuery, paginate
from db.models import User
from tests.factories import add_user


async def _five_users(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        for number in range(5):
            await add_user(session, email=f"page-{number}@example.com")


def _email(row: Any) -> str:
    return str(row.email)


async def test_a_page_of_rows_carries_the_total_of_the_whole_list(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _five_users(session_factory)
    statement = select(User.email, User.id).order_by(User.email)
    async with session_factory() as session:
        page = await paginate(session, statement, PageQuery(page=2, size=2), _email)

    assert page.items == ["page-2@example.com", "page-3@example.com"]
    assert (page.total, page.pages) == (5, 3)


async def test_a_list_of_one_entity_gives_the_entities(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _five_users(session_factory)
    statement = select(User).order_by(User.email.desc())
    async with session_factory() as session:
        page = await paginate(session, statement, PageQuery(page=3, size=2), _email)

    assert page.items == ["page-0@example.com"]
    assert page.total == 5


async def test_a_page_past_the_end_is_empty_and_still_counts_the_list(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await _five_users(session_factory)
    async with session_factory() as session:
        page = await paginate(
            session, select(User).order_by(User.email), PageQuery(page=4, size=2), _email
        )

    assert page.items == []
    assert (page.total, page.pages) == (5, 3)


async def test_an_empty_list_has_no_pages(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        page = await paginate(session, select(User).order_by(User.email), PageQuery(), _email)

    assert (page.items, page.total, page.pages) == ([], 0, 0)
