"""The strategy and credit lists run statements built once per shape (db/statements.py), their
values bound per request: each request gets its own user's rows and filters, whatever ran
before it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.enums import StrategyStatus, TransactionType
from tests.factories import add_strategy
from tests.integration.api.conftest import SignedIn, SignIn

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]


async def _names(client: Client, me: SignedIn, **params: str) -> list[str]:
    response = await client.get("/api/v1/strategies", params=params, headers=me.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    # Rows seeded in one transaction share created_at, and then their order is their ids'.
    return sorted(item["name"] for item in body["items"])


async def test_the_same_list_asked_by_two_users_shows_each_their_own(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    async with session_factory() as session, session.begin():
        await add_strategy(session, me.user_id, name="mine")
        await add_strategy(session, other.user_id, name="theirs", is_public=True)

    assert await _names(client, me) == ["mine"]
    assert await _names(client, other) == ["theirs"]
    assert await _names(client, me, public="true") == ["theirs"]
    assert await _names(client, other, public="true") == []


async def test_a_search_takes_percent_and_underscore_literally_with_a_status_beside_it(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    async with session_factory() as session, session.begin():
        await add_strategy(session, me.user_id, name="50% dip")
        await add_strategy(session, me.user_id, name="500 dip")
        await add_strategy(session, me.user_id, name="a_b")
        await add_strategy(session, me.user_id, name="axb")
        await add_strategy(
            session, me.user_id, name="50% paused", status=StrategyStatus.PAUSED.value
        )

    assert await _names(client, me, search="50%") == ["50% dip", "50% paused"]
    assert await _names(client, me, search="a_b") == ["a_b"]
    assert await _names(client, me, search="50%", status="PAUSED") == ["50% paused"]
    assert await _names(client, me, status="DRAFT", search="dip") == ["50% dip", "500 dip"]


async def test_the_history_filtered_by_type_is_each_users_own(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(credits=10), await sign_in(credits=20)
    async with session_factory() as session, session.begin():
        await ledger.post(session, user_id=other.user_id, amount=3, type=TransactionType.REFUND)

    def amounts(body: dict[str, Any]) -> list[int]:
        return [item["amount"] for item in body["items"]]

    mine = await client.get(
        "/api/v1/credits/transactions", params={"type": "REFUND"}, headers=me.headers
    )
    theirs = await client.get(
        "/api/v1/credits/transactions", params={"type": "REFUND"}, headers=other.headers
    )

    assert (amounts(await mine.json()), amounts(await theirs.json())) == ([], [3])
