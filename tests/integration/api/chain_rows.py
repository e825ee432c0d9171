"""Raw protocol events as the indexer stores them, for API tests that read or replay them."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ChainEvent, IndexerCursor

CHAIN_ID = 10143
WEI_PER_G8D = 10**18
_log_indexes = itertools.count()


async def add_chain_event(
    session: AsyncSession,
    name: str,
    args: dict[str, Any],
    *,
    block_number: int,
    at: dt.datetime,
    status: str = "PENDING",
) -> str:
    """One decoded event (integers as decimal strings, addresses lower-case, as the decoder
    writes them), with the chain's cursor the indexer writes beside it; returns its transaction
    hash."""
    tx_hash = "0x" + uuid.uuid4().hex * 2
    await session.execute(
        upsert(IndexerCursor)
        .values(
            chain_id=CHAIN_ID,
            last_block_number=block_number,
            last_block_hash="0x" + f"{block_number:064x}",
            finalized_block_number=0,
        )
        .on_conflict_do_nothing()
    )
    await session.execute(
        insert(ChainEvent).values(
            chain_id=CHAIN_ID,
            block_number=block_number,
            block_hash="0x" + f"{block_number:064x}",
            block_timestamp=at,
            tx_hash=tx_hash,
            log_index=next(_log_indexes),
            contract_address="0x" + "11" * 20,
            event_name=name,
            topics=[],
            data="0x",
            args={
                key: str(value) if isinstance(value, int) else value for key, value in args.items()
            },
            projection_status=status,
        )
    )
    return tx_hash
