"""Requests that run the same statement on the driver in one turn of the event loop share one
statement (db/statements.py): each still gets exactly its own rows, in their order, also when
the shared statement cannot run."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.pagination import _paging
from db import statements
from db.engine import create_read_session_factory
from db.statements import BoundSelect, fetch_rows
from strategies import service
from tests.factories import add_strategy
from tests.integration.api.conftest import SignIn

Sessions = async_sessionmaker[AsyncSession]


def _page_of(owner_id: uuid.UUID, *, size: int, offset: int = 0) -> BoundSelect:
    listed = service.owned_strategies(owner_id, service.StrategyFilter(status=None, search=None))
    window = {"paginate_offset": offset, "paginate_size": size}
    return BoundSelect(_paging(listed.statement).page, {**listed.params, **window})


@contextlib.asynccontextmanager
async def _read_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A read-only session as the API opens one: bound to an autocommit connection."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with (
        autocommit.connect() as connection,
        create_read_session_factory(engine)(bind=connection) as session,
    ):
        yield session


async def _names(engine: AsyncEngine, bound: BoundSelect) -> list[str]:
    async with _read_session(engine) as session:
        return [row.name for row in await fetch_rows(session, bound)]


async def _names_together(engine: AsyncEngine, pages: list[BoundSelect]) -> list[list[str]]:
    """Each page read in a session of its own, all in the same turn of the event loop."""
    async with contextlib.AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(_read_session(engine)) for _ in pages]
        found = await asyncio.gather(
            *(fetch_rows(session, page) for session, page in zip(sessions, pages, strict=True))
        )
    return [[row.name for row in rows] for rows in found]


async def _three_users_with_strategies(sign_in: SignIn, session_factory: Sessions) -> list[Any]:
    users = [await sign_in() for _ in range(3)]
    async with session_factory() as session, session.begin():
        for number, user in enumerate(users):
            for strategy in range(number + 2):
                await add_strategy(session, user.user_id, name=f"user {number} strategy {strategy}")
    return users


def _counting_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of requests of each batch that runs."""
    sizes: list[int] = []
    run = statements._run_batch

    async def counted(driver: Any, sql: str, argument_lists: list[list[Any]]) -> Any:
        sizes.append(len(argument_lists))
        return await run(driver, sql, argument_lists)

    monkeypatch.setattr(statements, "_run_batch", counted)
    return sizes


async def test_requests_running_a_statement_together_share_one_and_get_their_own_rows(
    engine: AsyncEngine,
    session_factory: Sessions,
    sign_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    users = await _three_users_with_strategies(sign_in, session_factory)
    pages = [
        _page_of(users[0].user_id, size=20),
        _page_of(users[1].user_id, size=2, offset=1),
        _page_of(users[2].user_id, size=3),
        _page_of(uuid.uuid4(), size=20),
    ]
    alone = [await _names(engine, page) for page in pages]
    batches = _counting_batches(monkeypatch)

    together = await _names_together(engine, pages)

    assert batches == [4]
    assert together == alone
    assert [len(names) for names in together] == [2, 2, 3, 0]


async def test_each_request_runs_its_statement_alone_when_the_shared_one_fails(
    engine: AsyncEngine,
    session_factory: Sessions,
    sign_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    users = await _three_users_with_strategies(sign_in, session_factory)
    pages = [_page_of(user.user_id, size=20) for user in users]
    alone = [await _names(engine, page) for page in pages]
    monkeypatch.setattr(statements, "_BATCH_SQL", {})
    monkeypatch.setattr(statements, "_batch_sql", lambda sql, parameters: "SELECT broken(")
    batches = _counting_batches(monkeypatch)

    together = await _names_together(engine, pages)

    assert batches == [3]
    assert together == alone


@dataclass(frozen=True)
class Parameter:
    """What asyncpg tells of a statement's parameter."""

    name: str
    kind: str = "scalar"
    schema: str = "pg_catalog"


def test_the_shared_statement_reads_each_requests_arguments_from_its_row_of_the_arrays() -> None:
    shared = statements._batch_sql(
        "SELECT a FROM t WHERE b = $1::UUID AND c = $1::UUID LIMIT $2",
        [Parameter("uuid"), Parameter("int8")],
    )

    assert shared == (
        'SELECT batch.request, statement.* FROM unnest($1::"pg_catalog"."uuid"[], '
        '$2::"pg_catalog"."int8"[]) WITH ORDINALITY AS batch(p1, p2, request) CROSS JOIN '
        "LATERAL (SELECT a FROM t WHERE b = batch.p1::UUID AND c = batch.p1::UUID "
        "LIMIT batch.p2) AS statement"
    )


@pytest.mark.parametrize(
    "sql, parameters",
    [
        ("SELECT a FROM t WHERE b ILIKE $1 ESCAPE '\\'", [Parameter("text")]),
        ("SELECT a FROM t WHERE b = ANY($1)", [Parameter("_text", kind="array")]),
        ("SELECT a FROM t", []),
    ],
    ids=["a string literal", "an array argument", "no argument"],
)
def test_statements_whose_arguments_cannot_be_rewritten_safely_are_not_shared(
    sql: str, parameters: list[Parameter]
) -> None:
    assert statements._batch_sql(sql, parameters) is None
