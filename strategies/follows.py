"""Follows as the indexer projects them from FollowRegistry (chain.md): read-only here.

A follow row is (follower, author, strategy); the API lists the strategies a user follows and
the users who follow that user's strategies, newest first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Follow, Strategy


def _listed(
    statement: Select[Any], *, active: bool | None, strategy_id: uuid.UUID | None
) -> Select[Any]:
    if active is not None:
        statement = statement.where(Follow.is_active.is_(active))
    if strategy_id is not None:
        statement = statement.where(Follow.strategy_id == strategy_id)
    return statement.order_by(Follow.created_at.desc(), Follow.id.desc())


def followed_by(
    user_id: uuid.UUID, *, active: bool | None = None, strategy_id: uuid.UUID | None = None
) -> Select[Any]:
    """The follows of `user_id` as follower."""
    return _listed(
        select(Follow).where(Follow.follower_id == user_id), active=active, strategy_id=strategy_id
    )


def followers_of(
    author_id: uuid.UUID, *, active: bool | None = None, strategy_id: uuid.UUID | None = None
) -> Select[Any]:
    """The follows of strategies authored by `author_id`."""
    return _listed(
        select(Follow).where(Follow.following_id == author_id),
        active=active,
        strategy_id=strategy_id,
    )


async def strategy_names(
    session: AsyncSession, strategy_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    """Names of the given strategies, for a page of follows in one query."""
    wanted = {strategy_id for strategy_id in strategy_ids if strategy_id is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Strategy.id, Strategy.name).where(Strategy.id.in_(wanted)))
    return {row.id: row.name for row in rows}
