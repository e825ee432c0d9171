"""Bodies of the market area: OHLCV candles and the series that exist."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.times import UtcDatetime
from db.models import Ohlcv
from market.service import Candle, Series, UpsertReport

MAX_CANDLES = 5000
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9/_.:\-]{0,19}$"
TIMEFRAME_PATTERN = r"^[1-9][0-9]{0,3}(s|m|h|d|w|M)$"

Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, max_length=20, examples=["BTC/USDT"])]
Timeframe = Annotated[str, Field(pattern=TIMEFRAME_PATTERN, max_length=10, examples=["1h"])]
# NUMERIC(20,8) prices and NUMERIC(30,8) volumes, never negative.
Price = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=8)]
Volume = Annotated[Decimal, Field(ge=0, max_digits=30, decimal_places=8)]


class CandleQuery(BaseModel):
    symbol: Symbol
    timeframe: Timeframe
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None
    limit: int = Field(default=500, ge=1, le=MAX_CANDLES)

    @model_validator(mode="after")
    def _ordered(self) -> CandleQuery:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class CandleOut(BaseModel):
    timestamp: dt.datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @classmethod
    def from_row(cls, row: Ohlcv) -> CandleOut:
        return cls(
            timestamp=row.timestamp,
            open=row.open,
            high=row.high,
            low=row.low,
            close=row.close,
            volume=row.volume,
        )


class CandlesOut(BaseModel):
    symbol: str
    timeframe: str
    candles: list[CandleOut] = Field(description="oldest first")


class TimeframeOut(BaseModel):
    timeframe: str
    first: dt.datetime
    last: dt.datetime


class SymbolOut(BaseModel):
    symbol: str
    timeframes: list[TimeframeOut]


class SymbolsOut(BaseModel):
    symbols: list[SymbolOut]

    @classmethod
    def of(cls, series: list[Series]) -> SymbolsOut:
        grouped: dict[str, list[TimeframeOut]] = {}
        for item in series:
            grouped.setdefault(item.symbol, []).append(
                TimeframeOut(timeframe=item.timeframe, first=item.first, last=item.last)
            )
        return cls(
            symbols=[SymbolOut(symbol=s, timeframes=frames) for s, frames in grouped.items()]
        )


class CandleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    timeframe: Timeframe
    timestamp: UtcDatetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Volume

    @model_validator(mode="after")
    def _within_range(self) -> CandleIn:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise ValueError("low <= open, close <= high must hold")
        return self

    def candle(self) -> Candle:
        return Candle(**self.model_dump())


class CandlesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candles: list[CandleIn] = Field(min_length=1, max_length=MAX_CANDLES)


class UpsertOut(BaseModel):
    received: int
    inserted: int
    updated: int
    unchanged: int

    @classmethod
    def of(cls, report: UpsertReport) -> UpsertOut:
        return cls(
            received=report.received,
            inserted=report.inserted,
            updated=report.updated,
            unchanged=report.unchanged,
        )
