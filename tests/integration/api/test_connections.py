"""The API's pooled database connections: no ping before each request (db/engine.py), yet a
connection PostgreSQL has ended is never handed to a request."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import User
from tests.integration.api.conftest import SignIn

Client = TestClient[object, object]

# Every other backend of this test session's database: the app's pooled connections and this
# fixture engine's idle ones (which ping before use). Waits until each has exited.
_TERMINATE_OTHERS = text(
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


async def test_requests_after_postgres_ended_the_pooled_connections_succeed(
    client: Client, sign_in: SignIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me = await sign_in(credits=50)
    # Several at once, so that the pool holds several connections, reads' and writes' alike.
    warm = await asyncio.gather(
        *(client.get("/api/v1/credits", headers=me.headers) for _ in range(4)),
        client.patch("/api/v1/users/me", json={"full_name": "Before"}, headers=me.headers),
    )
    assert [response.status for response in warm] == [200] * 5
    async with session_factory() as session:
        ended = await session.scalar(_TERMINATE_OTHERS)
    assert ended is not None and ended >= 1

    read = await client.get("/api/v1/credits", headers=me.headers)
    write = await client.patch("/api/v1/users/me", json={"full_name": "After"}, headers=me.headers)

    assert [read.status, write.status] == [200, 200]
    assert (await read.json())["balance"] == 50
    async with session_factory() as session:
        stored = await session.scalar(select(User.full_name).where(User.id == me.user_id))
    assert stored == "After"
