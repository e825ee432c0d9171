"""Hot list statements run straight on the driver's connection when the session has no
transaction (db/statements.py fetch_rows): the same rows as SQLAlchemy's, the same errors, and
never outside a transaction the session has begun."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.pagination import TOTAL_COLUMN, _paging
from db.engine import create_read_session_factory
from db.enums import StrategyStatus
from db.models import Strategy
from db.statements import BoundSelect, fetch_rows
from strategies import service
from tests.factories import add_strategy
from tests.integration.api.conftest import SignIn

Sessions = async_sessionmaker[AsyncSession]


def _my_strategies(owner_id: uuid.UUID) -> BoundSelect:
    listed = service.owned_strategies(owner_id, service.StrategyFilter(status=None, search=None))
    window = {"paginate_offset": 0, "paginate_size": 20}
    return BoundSelect(_paging(listed.statement).page, {**listed.params, **window})


@contextlib.asynccontextmanager
async def _read_session(engine: AsyncEngine, *, bound: bool) -> AsyncIterator[AsyncSession]:
    """A read-only session as the API opens it (bound to an autocommit connection) or as
    create_read_session_factory gives it (on the autocommit engine)."""
    sessions = create_read_session_factory(engine)
    if not bound:
        async with sessions() as session:
            yield session
        return
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as connection, sessions(bind=connection) as session:
        yield session


@pytest.mark.parametrize("bound", [True, False], ids=["bound to a connection", "on the engine"])
async def test_a_read_only_session_gets_the_rows_sqlalchemy_would_give(
    engine: AsyncEngine, session_factory: Sessions, sign_in: SignIn, bound: bool
) -> None:
    me = await sign_in()
    async with session_factory() as session, session.begin():
        await add_strategy(session, me.user_id, name="first", description=None)
        await add_strategy(session, me.user_id, name="second", status=StrategyStatus.PAUSED.value)
        await add_strategy(session, me.user_id, name="gone", status=StrategyStatus.ARCHIVED.value)
    listed = _my_strategies(me.user_id)

    async with _read_session(engine, bound=bound) as session:
        from_driver = await fetch_rows(session, listed)
        from_sqlalchemy = (await session.execute(listed.statement, listed.params)).all()

    assert [type(row).__name__ for row in from_driver] == ["Row", "Row"]
    assert sorted(row.name for row in from_driver) == ["first", "second"]
    assert [tuple(row) for row in from_driver] == [tuple(row) for row in from_sqlalchemy]
    assert [[type(value) for value in row] for row in from_driver] == [
        [type(value) for value in row] for row in from_sqlalchemy
    ]
    assert all(getattr(row, TOTAL_COLUMN) == 2 for row in from_driver)


async def test_a_session_in_a_transaction_reads_its_own_uncommitted_rows(
    session_factory: Sessions, sign_in: SignIn
) -> None:
    me = await sign_in()
    listed = _my_strategies(me.user_id)

    async with session_factory() as session, session.begin():
        await add_strategy(session, me.user_id, name="not yet committed")
        rows = await fetch_rows(session, listed)
        await session.rollback()

    assert [row.name for row in rows] == ["not yet committed"]


async def test_a_statement_of_entities_gives_entities(
    engine: AsyncEngine, session_factory: Sessions, sign_in: SignIn
) -> None:
    me = await sign_in()
    async with session_factory() as session, session.begin():
        await add_strategy(session, me.user_id, name="whole")

    async with create_read_session_factory(engine)() as session:
        mine = select(Strategy).where(Strategy.user_id == me.user_id)
        rows = await fetch_rows(session, BoundSelect(mine, {}))

    assert [type(row[0]) for row in rows] == [Strategy]
    assert rows[0][0].name == "whole"


async def test_a_connection_postgres_ended_is_reported_lost_as_by_sqlalchemy(
    engine: AsyncEngine, session_factory: Sessions, sign_in: SignIn
) -> None:
    me = await sign_in()
    listed = _my_strategies(me.user_id)

    async with _read_session(engine, bound=True) as session:
        backend = await session.scalar(text("SELECT pg_backend_pid()"))
        async with session_factory() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": backend})
        with pytest.raises(DBAPIError) as raised:
            await fetch_rows(session, listed)

    assert raised.value.connection_invalidated
