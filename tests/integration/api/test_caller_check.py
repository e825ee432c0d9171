"""A deactivated user's live token stops working on every route, also on read-only ones, where
the caller's row is checked after the handler (in the page's own statement when it has rows,
api/caller.py) but always before anything is answered."""

from __future__ import annotations

import uuid

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api import caller
from api.pagination import PageQuery, paginate
from api.problems import Problem
from db.engine import create_read_session_factory
from db.models import Strategy, User
from strategies.service import StrategyFilter, owned_strategies
from tests.factories import add_strategy
from tests.integration.api.conftest import SignedIn, SignIn

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

READS = {
    "a page with rows": ("/api/v1/strategies", 200),
    "an empty page": ("/api/v1/strategies?status=PAUSED", 200),
    "a page past the end": ("/api/v1/strategies?page=5", 200),
    "a read that is not a page": ("/api/v1/credits", 200),
    "a query the route refuses": ("/api/v1/strategies?size=1000", 422),
    "an object that is not there": (f"/api/v1/strategies/{uuid.uuid4()}", 404),
}


async def _deactivate(session_factory: Sessions, user_id: uuid.UUID) -> None:
    """As an operator would in the database: nothing in Redis says so."""
    async with session_factory() as session, session.begin():
        await session.execute(update(User).where(User.id == user_id).values(is_active=False))


async def _someone_with_a_strategy(sign_in: SignIn, session_factory: Sessions) -> SignedIn:
    me = await sign_in(credits=10)
    async with session_factory() as session, session.begin():
        await add_strategy(session, me.user_id, name="mine")
    return me


@pytest.mark.parametrize("path, status", READS.values(), ids=READS.keys())
async def test_a_read_answers_an_active_user_and_refuses_them_once_deactivated(
    client: Client, sign_in: SignIn, session_factory: Sessions, path: str, status: int
) -> None:
    me = await _someone_with_a_strategy(sign_in, session_factory)
    before = await client.get(path, headers=me.headers)

    await _deactivate(session_factory, me.user_id)
    after = await client.get(path, headers=me.headers)

    assert before.status == status
    assert after.status == 401
    assert (await after.json())["code"] == "NOT_AUTHENTICATED"
    assert after.headers["WWW-Authenticate"] == "Bearer"


async def test_a_write_refuses_a_deactivated_user_before_it_changes_anything(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await _someone_with_a_strategy(sign_in, session_factory)
    await _deactivate(session_factory, me.user_id)

    response = await client.post(
        "/api/v1/strategies",
        json={"name": "new", "definition": {"nodes": [], "edges": []}},
        headers=me.headers,
    )

    async with session_factory() as session:
        names = (
            await session.scalars(select(Strategy.name).where(Strategy.user_id == me.user_id))
        ).all()
    assert response.status == 401
    assert names == ["mine"]


async def test_a_page_with_rows_settles_the_callers_check_itself(
    engine: AsyncEngine, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await _someone_with_a_strategy(sign_in, session_factory)
    statement = owned_strategies(me.user_id, StrategyFilter())

    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        session = create_read_session_factory(engine)(bind=autocommit)
        caller.defer(session, me.user_id)
        page = await paginate(session, statement, PageQuery(), lambda row: row.name)
        settled = caller.pending(session) is None
        await session.close()

    assert page.items == ["mine"] and page.total == 1
    assert settled


async def test_a_page_refuses_a_deactivated_caller_instead_of_showing_its_rows(
    engine: AsyncEngine, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await _someone_with_a_strategy(sign_in, session_factory)
    await _deactivate(session_factory, me.user_id)

    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        session = create_read_session_factory(engine)(bind=autocommit)
        caller.defer(session, me.user_id)
        with pytest.raises(Problem) as refused:
            await paginate(
                session,
                owned_strategies(me.user_id, StrategyFilter()),
                PageQuery(),
                lambda row: row.name,
            )
        await session.close()

    assert refused.value.status == 401
