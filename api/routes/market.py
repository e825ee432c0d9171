"""/api/v1 routes of the market area (api.md "Resources")."""

from __future__ import annotations

from api.registry import Access, Call, Routes
from api.schemas.market import (
    CandleOut,
    CandleQuery,
    CandlesIn,
    CandlesOut,
    SymbolsOut,
    UpsertOut,
)
from market import service

routes = Routes("market")


@routes.get("/market/ohlcv")
async def get_ohlcv(call: Call, query: CandleQuery) -> CandlesOut:
    """Candles of one symbol and timeframe, oldest first.

    At most `limit` (≤ 5000, default 500) candles with `start` ≤ timestamp < `end`: counted
    from `start` when it is given (to page forward, ask again from the last timestamp + 1
    timeframe), otherwise the latest ones before `end` (or before now)."""
    rows = await service.candles(
        call.session,
        symbol=query.symbol,
        timeframe=query.timeframe,
        start=query.start,
        end=query.end,
        limit=query.limit,
    )
    return CandlesOut(
        symbol=query.symbol,
        timeframe=query.timeframe,
        candles=[CandleOut.from_row(row) for row in rows],
    )


@routes.get("/market/symbols")
async def list_symbols(call: Call) -> SymbolsOut:
    """Every symbol with candles, its timeframes and the time each covers."""
    return SymbolsOut.of(await service.series(call.session))


@routes.post("/internal/ohlcv", access=Access.SERVICE)
async def upsert_ohlcv(call: Call, body: CandlesIn) -> UpsertOut:
    """Store up to 5000 candles in one statement: new ones inserted, stored ones corrected.

    A candle already stored with the same values is left alone (`unchanged`). The same
    (symbol, timeframe, timestamp) twice in one body is 422 DUPLICATE_CANDLES."""
    report = await service.upsert_candles(
        call.session, candles=[candle.candle() for candle in body.candles]
    )
    return UpsertOut.of(report)
