"""Market data: OHLCV candles written in bulk by the service and read by charts and back-tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Ohlcv
from market.errors import DuplicateCandles, InvalidTimeRange


@dataclass(frozen=True, slots=True)
class Candle:
    symbol: str
    timeframe: str
    timestamp: dt.datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @property
    def key(self) -> tuple[str, str, dt.datetime]:
        return self.symbol, self.timeframe, self.timestamp


@dataclass(frozen=True, slots=True)
class UpsertReport:
    received: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.received - self.inserted - self.updated


# One statement for the whole batch. A candle that is already stored with the same values is
# left alone (no dead tuple, no write); xmax = 0 tells an inserted row from an updated one.
_UPSERT = text(
    """
    INSERT INTO ohlcv_data AS o (symbol, timeframe, timestamp, open, high, low, close, volume)
    SELECT * FROM unnest(
        CAST(:symbols AS varchar[]), CAST(:timeframes AS varchar[]),
        CAST(:timestamps AS timestamptz[]), CAST(:opens AS numeric[]),
        CAST(:highs AS numeric[]), CAST(:lows AS numeric[]), CAST(:closes AS numeric[]),
        CAST(:volumes AS numeric[])
    )
    ON CONFLICT (symbol, timeframe, timestamp) DO UPDATE SET
        open = excluded.open, high = excluded.high, low = excluded.low,
        close = excluded.close, volume = excluded.volume
    WHERE (o.open, o.high, o.low, o.close, o.volume)
        IS DISTINCT FROM (excluded.open, excluded.high, excluded.low, excluded.close,
                          excluded.volume)
    RETURNING (xmax = 0) AS inserted
    """
)


async def upsert_candles(session: AsyncSession, *, candles: Sequence[Candle]) -> UpsertReport:
    """Insert new candles and correct stored ones, all in one statement."""
    seen: set[tuple[str, str, dt.datetime]] = set()
    repeated = []
    for position, candle in enumerate(candles):
        if candle.key in seen:
            repeated.append(position)
        seen.add(candle.key)
    if repeated:
        raise DuplicateCandles(repeated)
    if not candles:
        return UpsertReport(received=0, inserted=0, updated=0)
    rows = await session.execute(
        _UPSERT,
        {
            "symbols": [c.symbol for c in candles],
            "timeframes": [c.timeframe for c in candles],
            "timestamps": [c.timestamp for c in candles],
            "opens": [c.open for c in candles],
            "highs": [c.high for c in candles],
            "lows": [c.low for c in candles],
            "closes": [c.close for c in candles],
            "volumes": [c.volume for c in candles],
        },
    )
    written = [row.inserted for row in rows]
    inserted = sum(written)
    return UpsertReport(received=len(candles), inserted=inserted, updated=len(written) - inserted)


async def candles(
    session: AsyncSession,
    *,
    symbol: str,
    timeframe: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    limit: int,
) -> list[Ohlcv]:
    """Candles of [start, end), oldest first, at most `limit` of them: from `start` on when it
    is given (paging forward through history), otherwise the latest ones before `end`."""
    if start is not None and end is not None and start >= end:
        raise InvalidTimeRange()
    statement = select(Ohlcv).where(Ohlcv.symbol == symbol, Ohlcv.timeframe == timeframe)
    if start is not None:
        statement = statement.where(Ohlcv.timestamp >= start)
    if end is not None:
        statement = statement.where(Ohlcv.timestamp < end)
    if start is not None:
        return list(await session.scalars(statement.order_by(Ohlcv.timestamp).limit(limit)))
    latest = await session.scalars(statement.order_by(Ohlcv.timestamp.desc()).limit(limit))
    return list(reversed(latest.all()))


@dataclass(frozen=True, slots=True)
class Series:
    symbol: str
    timeframe: str
    first: dt.datetime
    last: dt.datetime


# The distinct (symbol, timeframe) pairs by skipping through the index (a "loose index scan"):
# one index probe per pair instead of reading every candle, then each pair's first and last
# candle from the same index.
_SERIES = text(
    """
    WITH RECURSIVE pairs AS (
        (SELECT symbol, timeframe FROM ohlcv_data ORDER BY symbol, timeframe LIMIT 1)
        UNION ALL
        SELECT next.symbol, next.timeframe
        FROM pairs AS p
        CROSS JOIN LATERAL (
            SELECT o.symbol, o.timeframe FROM ohlcv_data AS o
            WHERE (o.symbol, o.timeframe) > (p.symbol, p.timeframe)
            ORDER BY o.symbol, o.timeframe
            LIMIT 1
        ) AS next
    )
    SELECT p.symbol, p.timeframe,
        (SELECT min(timestamp) FROM ohlcv_data AS o
         WHERE o.symbol = p.symbol AND o.timeframe = p.timeframe) AS first,
        (SELECT max(timestamp) FROM ohlcv_data AS o
         WHERE o.symbol = p.symbol AND o.timeframe = p.timeframe) AS last
    FROM pairs AS p
    ORDER BY p.symbol, p.timeframe
    """
)


async def series(session: AsyncSession) -> list[Series]:
    """Every (symbol, timeframe) with candles, and the time span it covers."""
    rows = await session.execute(_SERIES)
    return [Series(row.symbol, row.timeframe, row.first, row.last) for row in rows]
