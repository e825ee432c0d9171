"""/api/v1 routes of the admin area (api.md "Resources"): everyone's strategies and
settlements, a settlement run on demand, the indexer's position. (/admin/users lives with the
users, /admin/credits with the credits, /admin/royalties with the royalties.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import context
from api.pagination import Page, paginate
from api.problems import Problem
from api.registry import Access, Call, Routes
from api.schemas.admin import (
    AdminSettlementQuery,
    AdminStrategyOut,
    AdminStrategyQuery,
    ChainStatusOut,
    IndexerOut,
    SettlementRunIn,
    SettlementRunOut,
)
from api.schemas.settlements import SettlementOut
from db.enums import RunKind
from db.models import Strategy
from gr8d.config import ConfigError
from gr8d.errors import DomainError
from indexer.status import chain_statuses, rpc_head
from settlement import queries, rules, service
from settlement.errors import DayNotFinished, PeriodNotFinal
from settlement.onchain import build_relayer
from settlement.runs import Outcome, run_once
from settlement.scheduled import SettlementJobs

routes = Routes("admin")

log = structlog.get_logger("gr8d.api")


@routes.get("/admin/strategies", access=Access.ADMIN)
async def list_strategies(call: Call, query: AdminStrategyQuery) -> Page[AdminStrategyOut]:
    """Every user's strategies, newest first.

    Filters: `user` (the owner), `status`, `public`, `search` (part of the name, any case)."""
    statement = select(Strategy)
    if query.user is not None:
        statement = statement.where(Strategy.user_id == query.user)
    if query.status is not None:
        statement = statement.where(Strategy.status == query.status.value)
    if query.public is not None:
        statement = statement.where(Strategy.is_public.is_(query.public))
    if query.search is not None:
        pattern = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(Strategy.name.ilike(f"%{pattern}%", escape="\\"))
    statement = statement.order_by(Strategy.created_at.desc(), Strategy.id.desc())
    return await paginate(call.session, statement, query, AdminStrategyOut.from_row)


@routes.get("/admin/settlements", access=Access.ADMIN)
async def list_settlements(call: Call, query: AdminSettlementQuery) -> Page[SettlementOut]:
    """Every user's settlements, newest day first.

    Filters: `user`, `author`, `strategy`, `status`, and the days `from` / `to` (included)."""
    statement = queries.settlements(query.admin_filter())
    return await paginate(call.session, statement, query, SettlementOut.from_row)


@routes.post("/admin/settlements/run", access=Access.ADMIN, idempotent=True)
async def run_daily_settlement(call: Call, body: SettlementRunIn) -> SettlementRunOut:
    """Run the daily settlement of a finished day now, as the scheduler would.

    The run goes through the scheduler's exactly-once machinery (advisory lock and
    `settlement_runs`), so it commits in transactions of its own, not in this request's: what
    it did stays done whatever happens to the response. A day settled before answers
    `already_done` and changes nothing; a run in progress elsewhere is 409
    SETTLEMENT_RUN_BUSY; a day not over yet is 409 DAY_NOT_FINISHED; with BLOCKCHAIN_ENABLED a
    day the indexer has not finalized is 409 PERIOD_NOT_FINAL. With RELAYER_PRIVATE_KEY set the
    day's roots are then sent on chain, like `gr8d settle daily`. The run posts the day's fees,
    so it takes an `Idempotency-Key`: a retry with it gets the first answer back."""
    day = body.day
    if day >= dt.datetime.now(dt.UTC).date():
        raise DayNotFinished(day.isoformat())
    policy = service.Policy.from_settings(call.settings)
    day_index = rules.day_index_of_date(day)
    if policy.blockchain_enabled and not await service.chain_final_past(
        call.session, rules.day_bounds(day_index)[1]
    ):
        raise PeriodNotFinal(day.isoformat())
    refusals: list[DomainError] = []

    async def work(session: AsyncSession) -> dict[str, Any]:
        try:
            report = await service.settle_day(session, day_index=day_index, policy=policy)
        except DomainError as refusal:
            refusals.append(refusal)
            raise
        return report.figures()

    session_factory = call.request.app[context.SESSION_FACTORY]
    result = await run_once(session_factory, kind=RunKind.DAILY, period=day.isoformat(), work=work)
    if result.outcome is Outcome.BUSY:
        raise Problem(409, "SETTLEMENT_RUN_BUSY", f"{day} is being settled by another process")
    if result.outcome is Outcome.FAILED:
        if refusals:
            raise refusals[0]
        raise Problem(
            500,
            "SETTLEMENT_RUN_FAILED",
            f"the run of {day} failed and is recorded as FAILED; it is retried by the "
            "scheduler, and the logs say why",
        )
    relayed = await _relay(call, session_factory, policy, day_index)
    return SettlementRunOut(
        day=day,
        day_index=day_index,
        outcome=result.outcome.value,
        figures=result.figures,
        seconds=round(result.seconds, 3),
        roots_relayed=relayed,
    )


async def _relay(
    call: Call,
    session_factory: async_sessionmaker[AsyncSession],
    policy: service.Policy,
    day_index: int,
) -> int:
    """Send the day's unsent roots on chain when a relayer is configured (the scheduler's
    catch-up skips settled days, so a day settled here would otherwise never be relayed)."""
    try:
        relayer = await build_relayer(call.settings)
    except ConfigError as error:
        log.error("relayer misconfigured; day roots stay off chain", error=str(error))
        return 0
    if relayer is None:
        return 0
    try:
        jobs = SettlementJobs(session_factory=session_factory, policy=policy, relayer=relayer)
        return await jobs.relay_day(day_index)
    finally:
        await relayer.close()


@routes.get("/admin/indexer", access=Access.ADMIN)
async def get_indexer(call: Call) -> IndexerOut:
    """Where the indexer stands per chain: cursor, finalized block, head, lag, last reorg.

    The head is asked of the node when RPC_URLS is set (2 s at most), otherwise it is the
    newest block the indexer stored (`head_source` says which)."""
    head = await rpc_head(call.settings.rpc_urls)
    statuses = await chain_statuses(call.session, now=dt.datetime.now(dt.UTC), head=head)
    return IndexerOut(chains=[ChainStatusOut.of(status) for status in statuses])
