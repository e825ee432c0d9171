"""/api/v1 routes of the back-tests area (api.md "Resources": backtests), the worker's
report route included."""

from __future__ import annotations

import uuid

from api.pagination import Page, paginate
from api.registry import Access, Call, Routes
from api.schemas.backtests import BacktestIn, BacktestOut, BacktestQuery, BacktestReportIn
from strategies import backtests

routes = Routes("backtests")


@routes.post("/backtests", status=201, idempotent=True)
async def queue_backtest(call: Call, body: BacktestIn) -> BacktestOut:
    """Queue a back-test of one of my strategies, paying BACKTEST_COST_CREDITS.

    Not enough credits is 402 INSUFFICIENT_CREDITS and nothing is queued. A back-test that
    fails is refunded. Send an Idempotency-Key to make a retry safe."""
    backtest = await backtests.queue_backtest(
        call.session,
        user_id=call.user.id,
        request=body.request(),
        cost_credits=call.settings.backtest_cost_credits,
    )
    return BacktestOut.from_row(backtest)


@routes.get("/backtests")
async def list_backtests(call: Call, query: BacktestQuery) -> Page[BacktestOut]:
    """My back-tests, newest first (filters: status, strategy_id)."""
    statement = backtests.backtests_of(
        user_id=call.user.id, status=query.status, strategy_id=query.strategy_id
    )
    return await paginate(call.session, statement, query, BacktestOut.from_row)


@routes.get("/backtests/{backtest_id}")
async def get_backtest(call: Call, backtest_id: uuid.UUID) -> BacktestOut:
    """One of my back-tests, with its metrics once COMPLETED."""
    backtest = await backtests.backtest_of(
        call.session, user_id=call.user.id, backtest_id=backtest_id
    )
    return BacktestOut.from_row(backtest)


@routes.delete("/backtests/{backtest_id}")
async def delete_backtest(call: Call, backtest_id: uuid.UUID) -> None:
    """Delete one of my back-tests.

    A QUEUED one is cancelled and refunded; a RUNNING one is 409 BACKTEST_RUNNING until the
    worker reports its end."""
    await backtests.delete_backtest(call.session, user_id=call.user.id, backtest_id=backtest_id)


@routes.patch("/internal/backtests/{backtest_id}", access=Access.SERVICE)
async def report_backtest(
    call: Call, backtest_id: uuid.UUID, body: BacktestReportIn
) -> BacktestOut:
    """A back-test worker reports progress: RUNNING, COMPLETED with metrics, or FAILED.

    FAILED refunds the charge exactly once. Repeating the current state changes nothing (a
    safe retry); any other move is 409 INVALID_BACKTEST_TRANSITION."""
    backtest = await backtests.report_backtest(
        call.session,
        backtest_id=backtest_id,
        status=body.status,
        metrics=body.metrics(),
        error_message=body.error_message,
    )
    return BacktestOut.from_row(backtest)
