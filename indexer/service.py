"""Writing what the indexer read: raw events, the blocks they came from, and the cursor.

Everything of one batch goes into the caller's transaction, so a crash at any point leaves
either the whole batch or none of it, and the cursor says which. Re-writing a batch is
harmless: events are keyed by (chain, tx hash, log index).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ProjectionStatus
from db.models import ChainBlock, IndexerCursor, IndexerReorg
from indexer import projections
from indexer.events import DecodedEvent, DecodeFailure
from indexer.rpc import BlockHeader

UNDECODED = "UNDECODED"
# JSON without the spaces after separators: less to write, send and parse.
_COMPACT = (",", ":")


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
    # The column values COPY sends, made where the event is made (the decoding thread, while
    # the previous batch is written) rather than in the writing transaction. The raw log
    # (topics, data) is stored only when the args cannot be.
    args_text: str | None = field(init=False)
    topics_text: str | None = field(init=False)
    raw_data: str | None = field(init=False)
    # The arguments as the projection reads them from the stored row, and its check of them.
    projected_args: dict[str, str | None] | None = field(init=False)
    refusal: str | None = field(init=False)

    def __post_init__(self) -> None:
        decoded = self.json_args is not None
        args = json.dumps(self.json_args, separators=_COMPACT) if decoded else None
        topics = None if decoded else json.dumps(self.topics, separators=_COMPACT)
        object.__setattr__(self, "args_text", args)
        object.__setattr__(self, "topics_text", topics)
        object.__setattr__(self, "raw_data", None if decoded else self.data)
        projected = projections.projected_arguments(self.json_args)
        object.__setattr__(self, "projected_args", projected)
        object.__setattr__(self, "refusal", projections.refusal_of(self.event_name, projected))

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
           e.contract_address, e.event_name, NULLIF(e.topics, 'null'), e.data,
           NULLIF(e.args, 'null'), e.status, e.problem
    FROM ROWS FROM (
        unnest(CAST(:block_numbers AS bigint[])), unnest(CAST(:block_hashes AS varchar[])),
        unnest(CAST(:block_timestamps AS timestamptz[])), unnest(CAST(:tx_hashes AS varchar[])),
        unnest(CAST(:log_indexes AS integer[])), unnest(CAST(:addresses AS varchar[])),
        unnest(CAST(:names AS varchar[])), jsonb_array_elements(CAST(:topics AS jsonb)),
        unnest(CAST(:data AS text[])), jsonb_array_elements(CAST(:args AS jsonb)),
        unnest(CAST(:statuses AS varchar[])), unnest(CAST(:problems AS text[]))
    ) AS e(block_number, block_hash, block_timestamp, tx_hash, log_index, contract_address,
           event_name, topics, data, args, status, problem)
    ON CONFLICT (chain_id, tx_hash, log_index) DO NOTHING
    RETURNING id
    """
)


# Arrays, not a VALUES list: one statement whatever the number of headers, nothing to compile.
_UPSERT_BLOCKS = text(
    """
    INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp)
    SELECT :chain_id, b.number, b.hash, b.parent_hash, b.timestamp
    FROM unnest(
        CAST(:numbers AS bigint[]), CAST(:hashes AS varchar[]),
        CAST(:parent_hashes AS varchar[]), CAST(:timestamps AS timestamptz[])
    ) AS b(number, hash, parent_hash, timestamp)
    ON CONFLICT (chain_id, number) DO UPDATE
    SET hash = excluded.hash, parent_hash = excluded.parent_hash, timestamp = excluded.timestamp
    """
)


def _moment(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


async def read_cursor(session: AsyncSession, chain_id: int) -> IndexerCursor | None:
    return await session.scalar(select(IndexerCursor).where(IndexerCursor.chain_id == chain_id))


_COPIED_COLUMNS = (
    "id",
    "chain_id",
    "block_number",
    "block_hash",
    "block_timestamp",
    "tx_hash",
    "log_index",
    "contract_address",
    "event_name",
    "topics",
    "data",
    "args",
    "projection_status",
    "projection_error",
)

# Ids from the table's own sequence, so that the rows COPY writes are numbered as an INSERT
# would number them, and the projection can find them by id.
_RESERVE_EVENT_IDS = """
    SELECT nextval(s.sequence)
    FROM (SELECT CAST(pg_get_serial_sequence('chain_events', 'id') AS regclass) AS sequence) AS s
    CROSS JOIN generate_series(1, $1)
"""

_VERIFIED_WALLETS = text(
    "SELECT address FROM wallets WHERE is_verified AND address = ANY(CAST(:users AS varchar[]))"
)


async def _guessed_statuses(
    session: AsyncSession, events: Sequence[RawEvent], *, projected_next: bool
) -> list[str]:
    """The status each event is stored with (see write_batch)."""
    users = {
        user
        for event in events
        if event.event_name in projections.PARKED_WITHOUT_WALLET
        and isinstance(user := (event.json_args or {}).get("user"), str)
    }
    verified: set[str] = set()
    if users and projected_next:
        verified = set(await session.scalars(_VERIFIED_WALLETS, {"users": sorted(users)}))
    return [
        _guessed_status(event, verified=verified, projected_next=projected_next).value
        for event in events
    ]


def _guessed_status(
    event: RawEvent, *, verified: set[str], projected_next: bool
) -> ProjectionStatus:
    """FAILED when the event was not decoded; with a projection to follow, the status it most
    likely ends with; else PENDING."""
    if event.problem is not None:
        return ProjectionStatus.FAILED
    if not projected_next:
        return ProjectionStatus.PENDING
    if event.event_name in projections.RAW_ONLY_EVENTS:
        return ProjectionStatus.RAW_ONLY
    if event.event_name in projections.PARKED_WITHOUT_WALLET:
        user = (event.json_args or {}).get("user")
        if not isinstance(user, str) or user not in verified:
            return ProjectionStatus.PARKED
    return ProjectionStatus.APPLIED


async def _copy_events(
    session: AsyncSession,
    *,
    chain_id: int,
    events: Sequence[RawEvent],
    moments: Mapping[int, dt.datetime],
    statuses: Sequence[str],
) -> list[projections.StoredEvent]:
    """The events by COPY (binary, on the session's connection and transaction): a third
    cheaper than one INSERT ... SELECT of the same rows. Returns the rows as stored; fails on
    a row stored already."""
    connection = await (await session.connection()).get_raw_connection()
    driver: asyncpg.Connection = connection.driver_connection
    ids = sorted(row[0] for row in await driver.fetch(_RESERVE_EVENT_IDS, len(events)))
    records = [
        (
            id_,
            chain_id,
            event.block_number,
            event.block_hash,
            moments[event.block_number],
            event.tx_hash,
            event.log_index,
            event.contract_address,
            event.event_name,
            event.topics_text,
            event.raw_data,
            event.args_text,
            status,
            event.problem,
        )
        for id_, event, status in zip(ids, events, statuses, strict=True)
    ]
    await driver.copy_records_to_table("chain_events", records=records, columns=_COPIED_COLUMNS)
    stored = projections.stored_event
    return [
        stored(
            id_,
            chain_id,
            event.block_number,
            event.log_index,
            event.tx_hash,
            event.event_name,
            status,
            event.problem,
            event.projected_args,
            event.refusal,
        )
        for id_, event, status in zip(ids, events, statuses, strict=True)
    ]


async def _insert_events(
    session: AsyncSession,
    *,
    chain_id: int,
    events: Sequence[RawEvent],
    moments: Mapping[int, dt.datetime],
    statuses: Sequence[str],
) -> list[int]:
    """The events not stored yet, by INSERT ... ON CONFLICT DO NOTHING; the new rows' ids."""
    inserted = await session.scalars(
        _INSERT_EVENTS,
        {
            "chain_id": chain_id,
            "block_numbers": [e.block_number for e in events],
            "block_hashes": [e.block_hash for e in events],
            "block_timestamps": [moments[e.block_number] for e in events],
            "tx_hashes": [e.tx_hash for e in events],
            "log_indexes": [e.log_index for e in events],
            "addresses": [e.contract_address for e in events],
            "names": [e.event_name for e in events],
            "topics": "[" + ",".join(e.topics_text or "null" for e in events) + "]",
            "data": [e.raw_data for e in events],
            "args": "[" + ",".join(e.args_text or "null" for e in events) + "]",
            "statuses": list(statuses),
            "problems": [e.problem for e in events],
        },
    )
    return list(inserted)


async def write_batch(
    session: AsyncSession,
    *,
    chain_id: int,
    events: Sequence[RawEvent],
    blocks: Mapping[int, BlockHeader],
    last: BlockHeader,
    finalized: int,
    projected_next: bool = True,
) -> None:
    """One batch: its events, the headers they came from, and the cursor at `last`.

    Events the decoder refused are stored FAILED. With `projected_next` (the follower's
    promise to call projections.project_new over these blocks in this transaction) those
    without a table of their own are stored RAW_ONLY and the others with the status they most
    likely end with (APPLIED, or PARKED for a stake or follow of a wallet that is not
    verified), so that only the few the projection decides otherwise are written twice;
    without it they wait PENDING."""
    if events:
        moments = {number: _moment(header.timestamp) for number, header in blocks.items()}
        statuses = await _guessed_statuses(session, events, projected_next=projected_next)
        stored: list[projections.StoredEvent] | None
        try:
            async with session.begin_nested():
                stored = await _copy_events(
                    session, chain_id=chain_id, events=events, moments=moments, statuses=statuses
                )
            ids = [event.id for event in stored]
        except asyncpg.UniqueViolationError:
            # Rows of these events are stored already (they should not be: a batch's blocks
            # follow the cursor); keep those and add the rest, as a re-written batch does.
            stored = None
            ids = await _insert_events(
                session, chain_id=chain_id, events=events, moments=moments, statuses=statuses
            )
        if projected_next:
            await projections.project_after_write(
                session, chain_id=chain_id, event_ids=ids, stored=stored
            )
    headers = [*blocks.values()]
    if headers:
        await session.execute(
            _UPSERT_BLOCKS,
            {
                "chain_id": chain_id,
                "numbers": [header.number for header in headers],
                "hashes": [header.hash for header in headers],
                "parent_hashes": [header.parent_hash for header in headers],
                "timestamps": [_moment(header.timestamp) for header in headers],
            },
        )
    cursor = insert(IndexerCursor).values(
        chain_id=chain_id,
        last_block_number=last.number,
        last_block_hash=last.hash,
        finalized_block_number=finalized,
        events_indexed=len(events),
    )
    await session.execute(
        cursor.on_conflict_do_update(
            index_elements=["chain_id"],
            set_={
                "last_block_number": cursor.excluded.last_block_number,
                "last_block_hash": cursor.excluded.last_block_hash,
                "finalized_block_number": cursor.excluded.finalized_block_number,
                "events_indexed": IndexerCursor.events_indexed + cursor.excluded.events_indexed,
            },
        )
    )


@dataclass(frozen=True, slots=True)
class CursorPosition:
    """Where the database says the indexer is: the last block indexed and the last final one."""

    number: int
    hash: str
    finalized: int


async def position(session: AsyncSession, chain_id: int) -> CursorPosition | None:
    cursor = await read_cursor(session, chain_id)
    if cursor is None:
        return None
    return CursorPosition(
        cursor.last_block_number, cursor.last_block_hash, cursor.finalized_block_number
    )


async def lock_position(session: AsyncSession, chain_id: int) -> CursorPosition | None:
    """The cursor, read under a transaction-scoped advisory lock that every write of the
    indexer takes first: two processes that both believe they lead still write one at a time,
    and the second sees that the cursor moved under it.

    The same round trip turns JIT compilation off for the rest of the transaction: a batch's
    statements look expensive to the planner (arrays of unknown length), so PostgreSQL would
    compile each of them, for longer than most of them run."""
    await session.execute(
        select(
            func.pg_advisory_xact_lock(projections.writer_fence_key(chain_id)),
            func.set_config("jit", "off", True),
        )
    )
    row = (
        await session.execute(
            select(
                IndexerCursor.last_block_number,
                IndexerCursor.last_block_hash,
                IndexerCursor.finalized_block_number,
            ).where(IndexerCursor.chain_id == chain_id)
        )
    ).one_or_none()
    return None if row is None else CursorPosition(*row)


async def block_hashes(
    session: AsyncSession, *, chain_id: int, first: int, last: int
) -> dict[int, str]:
    """The stored hash of each block first..last (inclusive) the indexer kept."""
    rows = await session.execute(
        select(ChainBlock.number, ChainBlock.hash).where(
            ChainBlock.chain_id == chain_id, ChainBlock.number.between(first, last)
        )
    )
    return {number: block_hash for number, block_hash in rows}


async def rewind_cursor(session: AsyncSession, *, chain_id: int, number: int, hash: str) -> None:
    """After a reorg's blocks are unwound: the cursor goes back to the common ancestor."""
    await session.execute(
        update(IndexerCursor)
        .where(IndexerCursor.chain_id == chain_id)
        .values(last_block_number=number, last_block_hash=hash)
    )


async def record_reorg(
    session: AsyncSession,
    *,
    chain_id: int,
    common_ancestor: int,
    replaced_to: int,
    old_block_hash: str,
) -> None:
    """Remember a reorg that unwound blocks common_ancestor + 1 .. replaced_to (whose last one
    had old_block_hash), for operators."""
    session.add(
        IndexerReorg(
            chain_id=chain_id,
            common_ancestor=common_ancestor,
            replaced_to=replaced_to,
            depth=replaced_to - common_ancestor,
            old_block_hash=old_block_hash,
        )
    )
    await session.flush()


async def forget_cursor(session: AsyncSession, *, chain_id: int) -> None:
    """After a reorg that replaced every indexed block: the next batch is the first."""
    await session.execute(delete(IndexerCursor).where(IndexerCursor.chain_id == chain_id))


_FORGET_FINAL_BLOCKS = text(
    """
    DELETE FROM chain_blocks AS b
    WHERE b.chain_id = :chain_id AND b.number >= :first AND b.number < :below
      AND NOT EXISTS (
          SELECT 1 FROM chain_events AS e
          WHERE e.chain_id = b.chain_id AND e.block_number = b.number
      )
    """
)


async def forget_final_blocks(
    session: AsyncSession, *, chain_id: int, first: int, below: int
) -> None:
    """Headers of final blocks without events are no longer needed for reorg checks.

    What stays is the same whatever the batches were: blocks with events, the last final block
    (the settlement reads its time) and every block after it.
    """
    if below > first:
        await session.execute(
            _FORGET_FINAL_BLOCKS, {"chain_id": chain_id, "first": first, "below": below}
        )
