"""Backfill, one batch per transaction: logs of a block range, decoded, stored with their
blocks and the cursor. Restarting resumes after the cursor; nothing is read twice into the
database and nothing is skipped.

Not yet here (chain.md): projections into the domain tables, finality from the node's tag,
reorg detection and unwinding, adaptive ranges, retries and failover, leadership.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.uow import UnitOfWork
from gr8d.config import ConfigError
from indexer import projections, service
from indexer.devchain import Deployments
from indexer.events import decode_logs, event_table
from indexer.rpc import BlockHeader, JsonRpc, RpcError

log = structlog.get_logger("gr8d.indexer")


@dataclass(frozen=True, slots=True)
class Progress:
    first_block: int
    last_block: int
    events: int
    batches: int


@dataclass
class ChainFollower:
    rpc: JsonRpc
    session_factory: async_sessionmaker[AsyncSession]
    deployments: Deployments
    batch_blocks: int = 500
    confirmations: int = 10

    async def check_chain(self) -> None:
        """The node must serve the chain the deployments file describes."""
        node_chain = await self.rpc.chain_id()
        if node_chain != self.deployments.chain_id:
            raise ConfigError(
                "RPC_URLS",
                f"the node serves chain {node_chain}, the deployments file chain "
                f"{self.deployments.chain_id}",
            )

    async def next_block(self) -> int:
        async with self.session_factory() as session:
            cursor = await service.read_cursor(session, self.deployments.chain_id)
        return self.deployments.start_block if cursor is None else cursor.last_block_number + 1

    async def index_until(self, until_block: int) -> Progress:
        """Index every block up to `until_block` (inclusive) that is not indexed yet."""
        first = start = await self.next_block()
        events = batches = 0
        while start <= until_block:
            end = min(start + self.batch_blocks - 1, until_block)
            events += await self._index_batch(start, end)
            batches += 1
            start = end + 1
        return Progress(first, until_block, events, batches)

    async def _index_batch(self, start: int, end: int) -> int:
        addresses = list(self.deployments.contracts.values())
        # Only chain.md's events: the tokens' Transfer and Approval logs are not ours to keep.
        logs = await self.rpc.logs(start, end, addresses, topics=list(event_table()))
        stored = [service.RawEvent.of(item) for item in decode_logs(logs)]
        numbers = {event.block_number for event in stored} | {end}
        headers = {number: await self.rpc.block(number) for number in sorted(numbers)}
        _refuse_mismatched(stored, headers)
        head = await self.rpc.block_number()
        finalized = max(0, min(end, head - self.confirmations))
        chain_id = self.deployments.chain_id
        async with UnitOfWork(self.session_factory) as uow:
            await service.write_batch(
                uow.session,
                chain_id=chain_id,
                events=stored,
                blocks=headers,
                last=headers[end],
                finalized=finalized,
            )
            await projections.project_new(
                uow.session,
                chain_id=chain_id,
                first_block=start,
                last_block=end,
                finalized_block=finalized,
            )
            await projections.confirm_until(
                uow.session, chain_id=chain_id, finalized_block=finalized
            )
            await uow.commit()
        log.info("indexed", blocks=f"{start}-{end}", events=len(stored), head=head)
        return len(stored)


def _refuse_mismatched(events: list[service.RawEvent], headers: dict[int, BlockHeader]) -> None:
    """A log whose block hash is not its block's came from another branch: read again."""
    for event in events:
        if event.block_hash != headers[event.block_number].hash:
            raise RpcError(
                f"log {event.tx_hash}:{event.log_index} names block hash {event.block_hash}, "
                f"but block {event.block_number} is {headers[event.block_number].hash}"
            )
