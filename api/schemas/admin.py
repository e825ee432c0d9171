"""Bodies of the admin area: strategies and settlements of everyone, settlement runs, the
indexer's position."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.pagination import PageQuery
from api.schemas.settlements import SettlementQuery
from db.enums import StrategyStatus
from db.models import Strategy
from indexer.status import ChainStatus
from settlement.queries import SettlementFilter


class AdminStrategyQuery(PageQuery):
    user: uuid.UUID | None = Field(default=None, description="the owner")
    status: StrategyStatus | None = None
    public: bool | None = None
    search: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[^\x00]+$",
        description="part of the name",
    )


class AdminStrategyOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    description: str | None
    status: StrategyStatus
    is_public: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Strategy) -> AdminStrategyOut:
        return cls(
            id=row.id,
            user_id=row.user_id,
            name=row.name,
            description=row.description,
            status=StrategyStatus(row.status),
            is_public=row.is_public,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class AdminSettlementQuery(SettlementQuery):
    user: uuid.UUID | None = None
    author: uuid.UUID | None = None

    def admin_filter(self) -> SettlementFilter:
        return self.filter(user_id=self.user, author_id=self.author)


class SettlementRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: dt.date = Field(ge=dt.date(1970, 1, 1), description="YYYY-MM-DD (UTC)")


class SettlementRunOut(BaseModel):
    day: dt.date
    day_index: int
    outcome: str = Field(description="done, or already_done when the day was settled before")
    figures: dict[str, Any] = Field(description="what the run did (empty when already done)")
    seconds: float
    roots_relayed: int = Field(description="day roots sent on chain (0 without a relayer)")


class ChainStatusOut(BaseModel):
    chain_id: int
    cursor_block: int = Field(description="the last block indexed")
    cursor_block_hash: str
    cursor_block_time: dt.datetime | None
    finalized_block: int
    head_block: int
    head_source: str = Field(description="rpc, or database (the newest block stored)")
    lag_blocks: int
    lag_seconds: float | None = Field(description="now − the time of the last block indexed")
    events_not_applied: int = Field(
        description="events whose projection is pending, parked or failed "
        "(events kept raw only are done)"
    )
    last_reorg_at: dt.datetime | None = Field(
        description="when the indexer last unwound a reorg of this chain; null: never"
    )
    last_reorg_depth: int | None = Field(description="how many blocks that reorg replaced")

    @classmethod
    def of(cls, status: ChainStatus) -> ChainStatusOut:
        return cls(
            chain_id=status.chain_id,
            cursor_block=status.last_block,
            cursor_block_hash=status.last_block_hash,
            cursor_block_time=status.last_block_time,
            finalized_block=status.finalized_block,
            head_block=status.head_block,
            head_source=status.head_source,
            lag_blocks=status.lag_blocks,
            lag_seconds=status.lag_seconds,
            events_not_applied=status.events_not_applied,
            last_reorg_at=status.last_reorg,
            last_reorg_depth=status.last_reorg_depth,
        )


class IndexerOut(BaseModel):
    chains: list[ChainStatusOut]
