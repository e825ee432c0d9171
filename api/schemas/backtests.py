"""Bodies of the back-tests area: the owner's request, the worker's report, the result."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from api.pagination import PageQuery
from api.schemas.market import Symbol, Timeframe
from api.schemas.text import StoredText
from db.enums import BacktestStatus
from db.models import Backtest
from strategies.backtests import BacktestMetrics, BacktestRequest

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
MAX_INT = 2**31 - 1
# NUMERIC(20,8) and NUMERIC(10,4) hold at most 12 and 6 digits before the point.
CAPITAL_LIMIT = Decimal(10**12)
SHARPE_LIMIT = Decimal(10**6)


def _in_range(moment: dt.datetime) -> dt.datetime:
    try:
        utc = moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("must fall between 1970 and 2100")
    return utc


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy_id: uuid.UUID
    symbol: Symbol
    timeframe: Timeframe
    start_date: AwareDatetime
    end_date: AwareDatetime
    initial_capital: Decimal = Field(gt=0, lt=CAPITAL_LIMIT, max_digits=20, decimal_places=8)

    _dates_in_range = field_validator("start_date", "end_date")(_in_range)

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self

    def request(self) -> BacktestRequest:
        return BacktestRequest(
            strategy_id=self.strategy_id,
            symbol=self.symbol,
            timeframe=self.timeframe,
            start_date=self.start_date,
            end_date=self.end_date,
            initial_capital=self.initial_capital,
        )


class BacktestReportIn(BaseModel):
    """A worker's report. COMPLETED carries every metric; FAILED may carry error_message;
    RUNNING carries nothing else."""

    model_config = ConfigDict(extra="forbid")

    status: Literal[BacktestStatus.RUNNING, BacktestStatus.COMPLETED, BacktestStatus.FAILED]
    final_capital: Decimal | None = Field(
        default=None, ge=0, lt=CAPITAL_LIMIT, max_digits=20, decimal_places=8
    )
    total_return_bp: int | None = Field(default=None, ge=-10_000, le=MAX_INT)
    mdd_bp: int | None = Field(default=None, ge=0, le=10_000)
    win_rate_bp: int | None = Field(default=None, ge=0, le=10_000)
    sharpe_ratio: Decimal | None = Field(
        default=None, gt=-SHARPE_LIMIT, lt=SHARPE_LIMIT, max_digits=10, decimal_places=4
    )
    trade_count: int | None = Field(default=None, ge=0, le=MAX_INT)
    error_message: StoredText | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _fields_fit_the_status(self) -> Self:
        given = {name for name in METRICS if getattr(self, name) is not None}
        if self.status is BacktestStatus.COMPLETED and given != METRICS:
            missing = ", ".join(sorted(METRICS - given))
            raise ValueError(f"a COMPLETED report needs every metric; missing: {missing}")
        if self.status is not BacktestStatus.COMPLETED and given:
            raise ValueError("metrics come only with COMPLETED")
        if self.status is not BacktestStatus.FAILED and self.error_message is not None:
            raise ValueError("error_message comes only with FAILED")
        return self

    def metrics(self) -> BacktestMetrics | None:
        if self.status is not BacktestStatus.COMPLETED:
            return None
        return BacktestMetrics(**{name: getattr(self, name) for name in METRICS})


METRICS = frozenset(
    {"final_capital", "total_return_bp", "mdd_bp", "win_rate_bp", "sharpe_ratio", "trade_count"}
)


class BacktestQuery(PageQuery):
    status: BacktestStatus | None = None
    strategy_id: uuid.UUID | None = None


class BacktestOut(BaseModel):
    id: uuid.UUID
    strategy_id: uuid.UUID
    symbol: str
    timeframe: str
    start_date: dt.datetime
    end_date: dt.datetime
    initial_capital: Decimal
    status: BacktestStatus
    final_capital: Decimal | None
    total_return_bp: int | None
    mdd_bp: int | None
    win_rate_bp: int | None
    sharpe_ratio: Decimal | None
    trade_count: int | None
    error_message: str | None
    created_at: dt.datetime
    completed_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Backtest) -> BacktestOut:
        return cls(
            id=row.id,
            strategy_id=row.strategy_id,
            symbol=row.symbol,
            timeframe=row.timeframe,
            start_date=row.start_date,
            end_date=row.end_date,
            initial_capital=row.initial_capital,
            status=BacktestStatus(row.status),
            final_capital=row.final_capital,
            total_return_bp=row.total_return_bp,
            mdd_bp=row.mdd_bp,
            win_rate_bp=row.win_rate_bp,
            sharpe_ratio=row.sharpe_ratio,
            trade_count=row.trade_count,
            error_message=row.error_message,
            created_at=row.created_at,
            completed_at=row.completed_at,
        )
