"""Writing what the indexer read: raw events, the blocks they came from, and the cursor.

Everything of one batch goes into the caller's transaction, so a crash at any point leaves
either the whole batch or none of it, and the cursor says which. Re-writing a batch is
harmless: events are keyed by (chain, tx hash, log index).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ChainBlock, IndexerCursor
from indexer.events import DecodedEvent, DecodeFailure
from indexer.rpc import BlockHeader

UNDECODED = "UNDECODED"


@dataclass(frozen=True, slots=True)
class RawEvent:
    """A log as it is stored: decoded, or kept raw with the reason it could not be."""

    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    contract_address: str
    event_name: str
    topics: list[str]
    data: str
    json_args: dict[str, object] | None
    problem: str | None

    @classmethod
    def of(cls, item: DecodedEvent | DecodeFailure) -> RawEvent:
        if isinstance(item, DecodedEvent):
            return cls(
                item.block_number,
                item.block_hash,
                item.tx_hash,
                item.log_index,
                item.contract_address,
                item.name,
                item.topics,
                item.data,
                item.json_args,
                item.problem,
            )
        log = item.log
        return cls(
            int(str(log.get("blockNumber", "0x0")), 16),
            str(log.get("blockHash", "")).lower(),
            str(log.get("transactionHash", "")).lower(),
            int(str(log.get("logIndex", "0x0")), 16),
            str(log.get("address", "")).lower(),
            UNDECODED,
            [str(topic) for topic in log.get("topics") or []],
            str(log.get("data", "")),
            None,
            item.reason,
        )


_INSERT_EVENTS = text(
    """
    INSERT INTO chain_events (
        chain_id, block_number, block_hash, block_timestamp, tx_hash, log_index,
        contract_address, event_name, topics, data, args, projection_status, projection_error
    )
    SELECT :chain_id, e.block_number, e.block_hash, e.block_timestamp, e.tx_hash, e.log_index,
           e.contract_address, e.event_name, CAST(e.topics AS jsonb), e.data,
           CAST(e.args AS jsonb),
           CASE WHEN e.problem IS NULL THEN 'PENDING' ELSE 'FAILED' END, e.problem
    FROM unnest(
        CAST(:block_numbers AS bigint[]), CAST(:block_hashes AS varchar[]),
        CAST(:block_timestamps AS timestamptz[]), CAST(:tx_hashes AS varchar[]),
        CAST(:log_indexes AS integer[]), CAST(:addresses AS varchar[]),
        CAST(:names AS varchar[]), CAST(:topics AS text[]), CAST(:data AS text[]),
        CAST(:args AS text[]), CAST(:problems AS text[])
    ) AS e(block_number, block_hash, block_timestamp, tx_hash, log_index, contract_address,
           event_name, topics, data, args, problem)
    ON CONFLICT (chain_id, tx_hash, log_index) DO NOTHING
    """
)


def _moment(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


async def read_cursor(session: AsyncSession, chain_id: int) -> IndexerCursor | None:
    return await session.scalar(select(IndexerCursor).where(IndexerCursor.chain_id == chain_id))


async def write_batch(
    session: AsyncSession,
    *,
    chain_id: int,
    events: Sequence[RawEvent],
    blocks: Mapping[int, BlockHeader],
    last: BlockHeader,
    finalized: int,
) -> None:
    """One batch: its events, the headers they came from, and the cursor at `last`."""
    if events:
        await session.execute(
            _INSERT_EVENTS,
            {
                "chain_id": chain_id,
                "block_numbers": [e.block_number for e in events],
                "block_hashes": [e.block_hash for e in events],
                "block_timestamps": [_moment(blocks[e.block_number].timestamp) for e in events],
                "tx_hashes": [e.tx_hash for e in events],
                "log_indexes": [e.log_index for e in events],
                "addresses": [e.contract_address for e in events],
                "names": [e.event_name for e in events],
                "topics": [json.dumps(e.topics) for e in events],
                "data": [e.data for e in events],
                "args": [None if e.json_args is None else json.dumps(e.json_args) for e in events],
                "problems": [e.problem for e in events],
            },
        )
    headers = [*blocks.values()]
    if headers:
        statement = insert(ChainBlock).values(
            [
                {
                    "chain_id": chain_id,
                    "number": header.number,
                    "hash": header.hash,
                    "parent_hash": header.parent_hash,
                    "timestamp": _moment(header.timestamp),
                }
                for header in headers
            ]
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["chain_id", "number"],
                set_={
                    "hash": statement.excluded.hash,
                    "parent_hash": statement.excluded.parent_hash,
                    "timestamp": statement.excluded.timestamp,
                },
            )
        )
    cursor = insert(IndexerCursor).values(
        chain_id=chain_id,
        last_block_number=last.number,
        last_block_hash=last.hash,
        finalized_block_number=finalized,
    )
    await session.execute(
        cursor.on_conflict_do_update(
            index_elements=["chain_id"],
            set_={
                "last_block_number": cursor.excluded.last_block_number,
                "last_block_hash": cursor.excluded.last_block_hash,
                "finalized_block_number": cursor.excluded.finalized_block_number,
            },
        )
    )
