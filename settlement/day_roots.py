"""Step 8 of a daily settlement: per strategy, the Merkle root of the day's FILLED executions.

PostgreSQL writes every leaf's ``abi.encode(values)`` (``LEAF_ENCODING``) and hands them over
strategy by strategy, back to back in one bytea; Python only hashes (settlement.merkle). The
hashing is CPU work about as long as the settlement's writes, and the machine has a second
core: ``DayRootsReader`` reads and hashes on a second connection, in a read-only transaction
that imports the caller's snapshot (``pg_export_snapshot``), while the caller's connection
writes. When the caller's transaction has written already (its own writes are invisible to
an imported snapshot), or the session has no engine to connect with, it reads on the caller's
connection instead, after the writes (also inside a SAVEPOINT, where a snapshot cannot be
exported).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

from asyncpg import Record
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from settlement.merkle import ENCODED_LEAF_BYTES, leaf_hashes_of_encoded, root_of_leaf_hashes

_ZEROS_SQL: Final = {n: f"'\\x{'00' * n}'::bytea" for n in (16, 20, 24)}

# Below this an amount × 10^8 fits a signed bigint; above it the word is built from two parts.
_BIGINT_SAFE_VALUE: Final = 92_233_720_368


def _uint256_word(value: str) -> str:
    """SQL of the 32-byte big-endian ABI word of ``value × 10^8`` (a NUMERIC with at most 8
    decimals, not negative): 24 zero bytes and a bigint when it fits, else 20 zero bytes, the
    bigint of the high part and the low 4 bytes (values up to 2^95; beyond, the cast fails)."""
    units = f"({value} * 100000000)"
    return (
        f"CASE WHEN {value} < {_BIGINT_SAFE_VALUE} "
        f"THEN {_ZEROS_SQL[24]} || int8send(CAST({units} AS bigint)) "
        f"ELSE {_ZEROS_SQL[20]} || int8send(CAST(div({units}, 4294967296) AS bigint)) "
        f"|| substr(int8send(CAST(mod({units}, 4294967296) AS bigint)), 5) END"
    )


_SIDE_WORDS: Final = {code: f"'\\x{'00' * 31}{code:02x}'::bytea" for code in (0, 1)}

LEAF_ENCODING: Final = f"""(
    uuid_send(id) || {_ZEROS_SQL[16]} || uuid_send(user_id) || {_ZEROS_SQL[16]}
    || CASE side WHEN 'BUY' THEN {_SIDE_WORDS[0]} WHEN 'SELL' THEN {_SIDE_WORDS[1]} END
    || {_uint256_word("amount")}
    || {_uint256_word("executed_price")}
    || {_ZEROS_SQL[24]}
    || int8send(CAST(date_part('epoch', date_trunc('second', executed_at, 'UTC')) AS bigint))
)"""
"""SQL of ``abi.encode(LEAF_TYPES values)`` of an execution row (columns id, user_id, side,
amount, executed_price, executed_at): six static 32-byte words, bytes16 left-aligned, uints
big-endian; executed_at in whole unix seconds (whole seconds are exact as a double)."""

# `encodable` guards what LEAF_ENCODING cannot write: a negative amount or price, a time
# before 1970 (the merkle module refuses them too). Positional parameters: this statement runs
# on the driver's own cursor (see read_day_roots).
_DAY_LEAVES = f"""
    SELECT strategy_id,
           count(*) AS leaf_count,
           bool_and(amount >= 0 AND executed_price >= 0 AND executed_at >= 'epoch')
               AS encodable,
           string_agg({LEAF_ENCODING}, ''::bytea) AS leaves
    FROM executions
    WHERE status = 'FILLED' AND executed_at >= $1 AND executed_at < $2
    GROUP BY strategy_id
    ORDER BY strategy_id
"""

# Strategies fetched at once (about 2 MB of leaves at 100 leaves each), and hashed between two
# turns of the event loop (a few milliseconds), so the writing connection's results are picked
# up promptly.
_STRATEGIES_PER_FETCH: Final = 100
_STRATEGIES_PER_TURN: Final = 10

_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(?:-[0-9A-F]+)+")


@dataclass(frozen=True, slots=True)
class StrategyRoot:
    strategy_id: uuid.UUID
    merkle_root: str
    leaf_count: int


async def read_day_roots(
    connection: AsyncConnection, start: dt.datetime, end: dt.datetime
) -> list[StrategyRoot]:
    """The root of each strategy with FILLED executions in [start, end), by strategy id.

    Runs inside the connection's transaction, on asyncpg's own cursor: the next strategies are
    fetched while these are hashed, so PostgreSQL encodes and Python hashes at the same time.
    """
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    cursor = await driver.cursor(_DAY_LEAVES, start, end)
    roots: list[StrategyRoot] = []
    fetching = asyncio.ensure_future(cursor.fetch(_STRATEGIES_PER_FETCH))
    try:
        while strategies := await fetching:
            fetching = asyncio.ensure_future(cursor.fetch(_STRATEGIES_PER_FETCH))
            for first in range(0, len(strategies), _STRATEGIES_PER_TURN):
                await asyncio.sleep(0)
                roots.extend(map(_root, strategies[first : first + _STRATEGIES_PER_TURN]))
    finally:
        if not fetching.done():
            fetching.cancel()
        await asyncio.gather(fetching, return_exceptions=True)
    return roots


def _root(strategy: Record) -> StrategyRoot:
    strategy_id, leaf_count, encodable, leaves = strategy
    if not encodable or len(leaves) != leaf_count * ENCODED_LEAF_BYTES:
        raise ValueError(f"strategy {strategy_id} has a FILLED execution no leaf can hold")
    return StrategyRoot(
        strategy_id, root_of_leaf_hashes(leaf_hashes_of_encoded(leaves)), leaf_count
    )


class DayRootsReader:
    """Reads the day roots beside the caller's writes when it can (see the module's doc).

    ``async with DayRootsReader(session, start, end) as reader:`` starts reading; ``await
    reader.roots()`` gives them. Leaving the block stops a read that is still running.
    """

    def __init__(self, session: AsyncSession, start: dt.datetime, end: dt.datetime) -> None:
        self._session = session
        self._bounds = (start, end)
        self._beside: asyncio.Task[list[StrategyRoot]] | None = None

    async def __aenter__(self) -> Self:
        engine = self._session.bind
        # A snapshot cannot be exported from inside a SAVEPOINT.
        if isinstance(engine, AsyncEngine) and not self._session.in_nested_transaction():
            snapshot = await self._exportable_snapshot()
            if snapshot is not None:
                self._beside = asyncio.create_task(self._read_in_snapshot(engine, snapshot))
        return self

    async def roots(self) -> list[StrategyRoot]:
        if self._beside is not None:
            return await self._beside
        return await read_day_roots(await self._session.connection(), *self._bounds)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._beside is not None:
            # Stops a read still running; either way its outcome is collected, so a failure
            # the caller did not wait for is not reported as never retrieved.
            self._beside.cancel()
            await asyncio.gather(self._beside, return_exceptions=True)

    async def _exportable_snapshot(self) -> str | None:
        """The caller's snapshot, when its transaction has not written anything yet."""
        row = (
            await self._session.execute(
                text("SELECT pg_current_xact_id_if_assigned() IS NULL, pg_export_snapshot()")
            )
        ).one()
        clean, snapshot = row
        return str(snapshot) if clean and _SNAPSHOT_ID.fullmatch(snapshot) else None

    async def _read_in_snapshot(self, engine: AsyncEngine, snapshot: str) -> list[StrategyRoot]:
        async with engine.connect() as connection:
            await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            # An identifier checked against _SNAPSHOT_ID: the command takes no parameters.
            await connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            # The leaf encoding is a large expression: compiling it (JIT) costs seconds.
            await connection.exec_driver_sql("SET LOCAL jit = off")
            return await read_day_roots(connection, *self._bounds)
