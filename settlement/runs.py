"""Exactly-once runs: a PostgreSQL advisory lock plus the `settlement_runs` memory.

A run of (kind, period) takes a transaction-scoped advisory lock, skips the period when a
DONE row exists, and otherwise does its work and records itself DONE in the same
transaction. A failure rolls the work back and is recorded as FAILED in a transaction of its
own, so the next catch-up tries again. Restarts, overlapping ticks and replicas therefore
never double a run; the tables' UNIQUE constraints stay behind this as the final guard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.enums import RunKind, RunStatus
from db.models import SettlementRun
from db.uow import UnitOfWork

log = structlog.get_logger("gr8d.settlement")

Work = Callable[[AsyncSession], Awaitable[dict[str, Any]]]


class Outcome(StrEnum):
    DONE = "done"
    ALREADY_DONE = "already_done"
    BUSY = "busy"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RunResult:
    kind: RunKind
    period: str
    outcome: Outcome
    figures: dict[str, Any]
    seconds: float
    error: str | None = None


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit lock key for a name (same on every replica and restart)."""
    digest = hashlib.blake2b("/".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def try_lock(session: AsyncSession, *parts: str) -> bool:
    """Take a transaction-scoped advisory lock without waiting."""
    locked = await session.scalar(select(func.pg_try_advisory_xact_lock(advisory_key(*parts))))
    return bool(locked)


async def is_done(session: AsyncSession, kind: RunKind, period: str) -> bool:
    status = await session.scalar(
        select(SettlementRun.status).where(
            SettlementRun.kind == kind.value, SettlementRun.period == period
        )
    )
    return status == RunStatus.DONE.value


async def _record(
    session: AsyncSession,
    kind: RunKind,
    period: str,
    status: RunStatus,
    figures: dict[str, Any],
    *,
    started_at: dt.datetime,
    error: str | None = None,
) -> None:
    """The outcome of the latest attempt at (kind, period): when it started and finished."""
    statement = insert(SettlementRun).values(
        kind=kind.value,
        period=period,
        status=status.value,
        started_at=started_at,
        finished_at=dt.datetime.now(dt.UTC),
        figures=figures,
        error=error,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["kind", "period"],
            set_={
                "status": statement.excluded.status,
                "started_at": statement.excluded.started_at,
                "finished_at": statement.excluded.finished_at,
                "figures": statement.excluded.figures,
                "error": statement.excluded.error,
            },
        )
    )


async def run_once(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    kind: RunKind,
    period: str,
    work: Work,
) -> RunResult:
    """Run `work` for (kind, period) unless it is done or another process is running it."""
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC)
    try:
        async with UnitOfWork(session_factory) as uow:
            if not await try_lock(uow.session, "settlement", kind.value, period):
                return RunResult(kind, period, Outcome.BUSY, {}, time.perf_counter() - started)
            if await is_done(uow.session, kind, period):
                return RunResult(
                    kind, period, Outcome.ALREADY_DONE, {}, time.perf_counter() - started
                )
            figures = await work(uow.session)
            await _record(uow.session, kind, period, RunStatus.DONE, figures, started_at=started_at)
            await uow.commit()
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        log.error("settlement run failed", kind=kind.value, period=period, error=reason)
        async with UnitOfWork(session_factory) as uow:
            await _record(
                uow.session,
                kind,
                period,
                RunStatus.FAILED,
                {},
                started_at=started_at,
                error=reason,
            )
            await uow.commit()
        return RunResult(
            kind, period, Outcome.FAILED, {}, time.perf_counter() - started, error=reason
        )
    seconds = time.perf_counter() - started
    log.info(
        "settlement run done", kind=kind.value, period=period, seconds=round(seconds, 3), **figures
    )
    return RunResult(kind, period, Outcome.DONE, figures, seconds)


async def done_periods(session: AsyncSession, kind: RunKind) -> set[str]:
    rows = await session.scalars(
        select(SettlementRun.period).where(
            SettlementRun.kind == kind.value, SettlementRun.status == RunStatus.DONE.value
        )
    )
    return set(rows)
