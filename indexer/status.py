"""Where the indexer stands, as the database records it (for the admin route and /metrics).

The head is the chain's newest block: asked of the RPC when RPC_URLS is configured (briefly;
an unreachable node must not hang an admin page), otherwise the newest block the indexer has
stored. `last_reorg` is when the indexer last unwound a reorg of the chain (indexer_reorgs), with
its depth in blocks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ProjectionStatus
from db.models import ChainBlock, ChainEvent, IndexerCursor, IndexerReorg
from indexer.rpc import JsonRpc, RetryPolicy, RpcError

log = structlog.get_logger("gr8d.indexer")

RPC_HEAD_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ChainHead:
    chain_id: int
    number: int


@dataclass(frozen=True, slots=True)
class ChainStatus:
    chain_id: int
    last_block: int
    last_block_hash: str
    last_block_time: dt.datetime | None
    finalized_block: int
    head_block: int
    head_source: str  # "rpc" or "database"
    lag_blocks: int
    lag_seconds: float | None
    events_not_applied: int  # pending, parked or failed (RAW_ONLY ones are done: kept raw)
    last_reorg: dt.datetime | None = None
    last_reorg_depth: int | None = None
    events_indexed: int = 0  # written, ever (indexer_cursors.events_indexed)


async def rpc_head(urls: Sequence[str]) -> ChainHead | None:
    """The node's chain id and newest block, or None when it does not answer in time."""
    if not urls:
        return None
    policy = RetryPolicy(
        attempts=2, base_delay=0.05, max_delay=0.2, request_timeout=RPC_HEAD_TIMEOUT_SECONDS
    )
    try:
        async with asyncio.timeout(RPC_HEAD_TIMEOUT_SECONDS), aiohttp.ClientSession() as client:
            rpc = JsonRpc(client, urls[0], policy=policy)
            chain_id = await rpc.chain_id()
            return ChainHead(chain_id=chain_id, number=await rpc.block_number())
    except (RpcError, aiohttp.ClientError, TimeoutError, OSError) as error:
        log.warning("rpc head unavailable", error=str(error))
        return None


async def chain_statuses(
    session: AsyncSession, *, now: dt.datetime, head: ChainHead | None = None
) -> list[ChainStatus]:
    """One status per indexed chain; `head` (from rpc_head) overrides the stored newest block
    of its chain."""
    cursors = list(await session.scalars(select(IndexerCursor).order_by(IndexerCursor.chain_id)))
    statuses = []
    for cursor in cursors:
        newest = await session.scalar(
            select(func.max(ChainBlock.number)).where(ChainBlock.chain_id == cursor.chain_id)
        )
        last_time = await session.scalar(
            select(ChainBlock.timestamp).where(
                ChainBlock.chain_id == cursor.chain_id,
                ChainBlock.number == cursor.last_block_number,
            )
        )
        not_applied = await session.scalar(
            select(func.count()).where(
                ChainEvent.chain_id == cursor.chain_id,
                ChainEvent.projection_status.not_in(
                    (ProjectionStatus.APPLIED.value, ProjectionStatus.RAW_ONLY.value)
                ),
            )
        )
        last_reorg = (
            await session.execute(
                select(IndexerReorg.detected_at, IndexerReorg.depth)
                .where(IndexerReorg.chain_id == cursor.chain_id)
                .order_by(IndexerReorg.detected_at.desc())
                .limit(1)
            )
        ).one_or_none()
        from_rpc = head is not None and head.chain_id == cursor.chain_id
        head_block = (
            head.number
            if head is not None and from_rpc
            else max(newest or 0, cursor.last_block_number)
        )
        statuses.append(
            ChainStatus(
                chain_id=cursor.chain_id,
                last_block=cursor.last_block_number,
                last_block_hash=cursor.last_block_hash,
                last_block_time=last_time,
                finalized_block=cursor.finalized_block_number,
                head_block=head_block,
                head_source="rpc" if from_rpc else "database",
                lag_blocks=max(0, head_block - cursor.last_block_number),
                lag_seconds=None if last_time is None else (now - last_time).total_seconds(),
                events_not_applied=not_applied or 0,
                last_reorg=None if last_reorg is None else last_reorg.detected_at,
                last_reorg_depth=None if last_reorg is None else last_reorg.depth,
                events_indexed=cursor.events_indexed,
            )
        )
    return statuses


@dataclass(frozen=True, slots=True)
class Rates:
    blocks_per_second: float | None
    events_per_second: float | None


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    block: int
    events: int


class ProgressMeter:
    """Blocks/s and events/s of each indexed chain, as one process of the API sees them: the
    cursor and the events count (indexer_cursors) sampled at each look (a scrape, a health
    check) and compared with the samples of about the last minute. The indexer may run in
    another process; the database is what they share. None until two looks are
    `min_span_seconds` apart. An unwind that moves the cursor back counts as no progress."""

    def __init__(
        self,
        *,
        window_seconds: float = 60.0,
        min_span_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self._window = window_seconds
        self._min_span = min_span_seconds
        self._samples: dict[int, deque[_Sample]] = {}

    def rates(self, status: ChainStatus) -> Rates:
        """Record `status` as seen now and give the rates up to it."""
        at = self.clock()
        samples = self._samples.setdefault(status.chain_id, deque())
        samples.append(_Sample(at, status.last_block, status.events_indexed))
        # Keep the newest sample that is at least a window old: rare looks still get a rate.
        while len(samples) > 2 and at - samples[1].at >= self._window:
            samples.popleft()
        oldest, span = samples[0], at - samples[0].at
        if span < self._min_span:
            return Rates(blocks_per_second=None, events_per_second=None)
        return Rates(
            blocks_per_second=max(0, status.last_block - oldest.block) / span,
            events_per_second=max(0, status.events_indexed - oldest.events) / span,
        )
