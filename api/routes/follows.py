"""/api/v1 routes of the follows area (api.md "Resources": follows).

Follows are made on chain (FollowRegistry) and projected by the indexer; the API reads them."""

from __future__ import annotations

from api.pagination import Page, paginate
from api.registry import Call, Routes
from api.schemas.follows import FollowOut, FollowQuery
from strategies import follows

routes = Routes("follows")


async def _named(call: Call, page: Page[FollowOut]) -> Page[FollowOut]:
    names = await follows.strategy_names(call.session, (item.strategy_id for item in page.items))
    for item in page.items:
        item.strategy_name = None if item.strategy_id is None else names.get(item.strategy_id)
    return page


@routes.get("/follows")
async def list_follows(call: Call, query: FollowQuery) -> Page[FollowOut]:
    """The strategies I follow, newest first (`active`, `strategy_id` narrow it)."""
    statement = follows.followed_by(
        call.user.id, active=query.active, strategy_id=query.strategy_id
    )
    return await _named(call, await paginate(call.session, statement, query, FollowOut.from_row))


@routes.get("/follows/followers")
async def list_followers(call: Call, query: FollowQuery) -> Page[FollowOut]:
    """Who follows my strategies, newest first (`active`, `strategy_id` narrow it)."""
    statement = follows.followers_of(
        call.user.id, active=query.active, strategy_id=query.strategy_id
    )
    return await _named(call, await paginate(call.session, statement, query, FollowOut.from_row))
