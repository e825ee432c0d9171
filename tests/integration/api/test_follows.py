"""Follows as the indexer projected them: the strategies I follow, and who follows mine."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Follow
from tests.factories import add_strategy
from tests.integration.api.conftest import SignIn

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]


async def follow(
    session_factory: Sessions,
    follower: uuid.UUID,
    author: uuid.UUID,
    strategy: uuid.UUID,
    *,
    active: bool = True,
) -> uuid.UUID:
    """One follow per transaction, so created_at orders them."""
    async with session_factory() as session, session.begin():
        follow_id: uuid.UUID = (
            await session.execute(
                insert(Follow)
                .values(
                    follower_id=follower,
                    following_id=author,
                    strategy_id=strategy,
                    is_active=active,
                    onchain_tx_hash="0x" + "f0" * 32,
                )
                .returning(Follow.id)
            )
        ).scalar_one()
    return follow_id


async def strategy_of(session_factory: Sessions, author: uuid.UUID, name: str) -> uuid.UUID:
    async with session_factory() as session, session.begin():
        return await add_strategy(session, author, name=name, is_public=True)


async def test_i_see_the_strategies_i_follow_newest_first(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, author, stranger = await sign_in(), await sign_in(), await sign_in()
    dip = await strategy_of(session_factory, author.user_id, "dip")
    trend = await strategy_of(session_factory, author.user_id, "trend")
    older = await follow(session_factory, me.user_id, author.user_id, dip)
    newer = await follow(session_factory, me.user_id, author.user_id, trend, active=False)
    await follow(session_factory, stranger.user_id, author.user_id, dip)

    response = await client.get("/api/v1/follows", headers=me.headers)
    body = await response.json()

    assert response.status == 200 and body["total"] == 2
    assert [item["id"] for item in body["items"]] == [str(newer), str(older)]
    first = body["items"][0]
    assert first["strategy_name"] == "trend" and first["is_active"] is False
    assert first["follower_id"] == str(me.user_id)
    assert first["following_id"] == str(author.user_id)
    active = await (await client.get("/api/v1/follows?active=true", headers=me.headers)).json()
    assert [item["id"] for item in active["items"]] == [str(older)]


async def test_an_author_sees_who_follows_their_strategies(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, fan, other_author = await sign_in(), await sign_in(), await sign_in()
    dip = await strategy_of(session_factory, author.user_id, "dip")
    trend = await strategy_of(session_factory, author.user_id, "trend")
    elsewhere = await strategy_of(session_factory, other_author.user_id, "elsewhere")
    on_dip = await follow(session_factory, fan.user_id, author.user_id, dip)
    on_trend = await follow(session_factory, fan.user_id, author.user_id, trend)
    await follow(session_factory, fan.user_id, other_author.user_id, elsewhere)

    everyone = await (await client.get("/api/v1/follows/followers", headers=author.headers)).json()
    of_dip = await client.get(
        f"/api/v1/follows/followers?strategy_id={dip}", headers=author.headers
    )

    assert [item["id"] for item in everyone["items"]] == [str(on_trend), str(on_dip)]
    assert {item["follower_id"] for item in everyone["items"]} == {str(fan.user_id)}
    assert [item["id"] for item in (await of_dip.json())["items"]] == [str(on_dip)]


async def test_follow_lists_page(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, author = await sign_in(), await sign_in()
    for index in range(3):
        strategy = await strategy_of(session_factory, author.user_id, f"s{index}")
        await follow(session_factory, me.user_id, author.user_id, strategy)

    response = await client.get("/api/v1/follows?page=2&size=2", headers=me.headers)
    body = await response.json()

    assert (body["total"], body["pages"], body["page"], len(body["items"])) == (3, 2, 2, 1)
    assert body["items"][0]["strategy_name"] == "s0"


async def test_a_bad_filter_is_a_validation_error(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    response = await client.get("/api/v1/follows?strategy_id=nope", headers=me.headers)
    assert response.status == 422
    assert (await response.json(content_type=None))["code"] == "VALIDATION_ERROR"


async def test_follow_routes_need_a_token(client: Client) -> None:
    assert (await client.get("/api/v1/follows")).status == 401
    assert (await client.get("/api/v1/follows/followers")).status == 401
