"""Bodies of the follows area: follows as the indexer projects them from FollowRegistry."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from api.pagination import PageQuery
from db.models import Follow


class FollowOut(BaseModel):
    id: uuid.UUID
    follower_id: uuid.UUID
    following_id: uuid.UUID = Field(description="the strategy's author")
    strategy_id: uuid.UUID | None
    strategy_name: str | None
    is_active: bool
    onchain_tx_hash: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Follow) -> FollowOut:
        return cls(
            id=row.id,
            follower_id=row.follower_id,
            following_id=row.following_id,
            strategy_id=row.strategy_id,
            strategy_name=None,
            is_active=row.is_active,
            onchain_tx_hash=row.onchain_tx_hash,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class FollowQuery(PageQuery):
    active: bool | None = Field(default=None, description="only active (true) or ended (false)")
    strategy_id: uuid.UUID | None = None
