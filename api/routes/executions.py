"""/api/v1 routes of the executions area (api.md "Resources")."""

from __future__ import annotations

import uuid

from api.pagination import Page, paginate
from api.registry import Access, Call, Routes
from api.schemas.executions import (
    ExecutionOut,
    ExecutionProofOut,
    ExecutionQuery,
    ExecutionRecordedOut,
    ExecutionReportIn,
)
from settlement.proofs import proof_of
from strategies import executions

routes = Routes("executions")


@routes.get("/executions")
async def list_executions(call: Call, query: ExecutionQuery) -> Page[ExecutionOut]:
    """My executions, newest first.

    Filters: `strategy` (id), `status`, and `from` / `to` (ISO 8601 times with a zone) bounding
    when the order was created, `from` included, `to` excluded."""
    statement = executions.executions_of(
        call.user.id,
        strategy_id=query.strategy,
        status=query.status,
        since=query.since,
        until=query.until,
    )
    return await paginate(call.session, statement, query, ExecutionOut.from_row)


@routes.get("/executions/{execution_id}")
async def get_execution(call: Call, execution_id: uuid.UUID) -> ExecutionOut:
    """One of my executions (404 EXECUTION_NOT_FOUND for anyone else's)."""
    execution = await executions.get_execution(
        call.session, execution_id=execution_id, user_id=call.user.id
    )
    return ExecutionOut.from_row(execution)


@routes.post("/executions/{execution_id}/cancel")
async def cancel_execution(call: Call, execution_id: uuid.UUID) -> ExecutionOut:
    """Cancel one of my PENDING executions.

    Any other status is 409 EXECUTION_NOT_PENDING. The trading engine withdraws the order at
    the exchange; should the exchange have filled it first, the engine's FILLED report wins
    (a trade that happened is settled)."""
    execution = await executions.cancel_execution(
        call.session, execution_id=execution_id, user_id=call.user.id
    )
    return ExecutionOut.from_row(execution)


@routes.get("/executions/{execution_id}/proof")
async def get_execution_proof(call: Call, execution_id: uuid.UUID) -> ExecutionProofOut:
    """The Merkle proof of one of my FILLED executions against its day's committed root.

    409 EXECUTION_NOT_FILLED for an execution that is not FILLED, 409 DAY_NOT_COMMITTED while
    its day is not settled yet (roots are built by the daily settlement)."""
    execution = await executions.get_execution(
        call.session, execution_id=execution_id, user_id=call.user.id
    )
    return ExecutionProofOut.of(await proof_of(call.session, execution=execution))


@routes.post("/internal/executions", access=Access.SERVICE)
async def report_execution(call: Call, body: ExecutionReportIn) -> ExecutionRecordedOut:
    """The trading engine reports an order: created, or moved along its status machine.

    Keyed by `exchange_order_id`, so repeating a report is harmless (`changed: false`).
    PENDING may become PENDING (amended), FILLED, FAILED or CANCELLED; a CANCELLED order may
    still become FILLED (the exchange filled it before the cancel arrived); FILLED and FAILED
    are final (409 EXECUTION_FINAL). The user must own the strategy or follow it (422
    USER_NOT_ON_STRATEGY); the order's user, strategy, symbol, side, type and amount never
    change (409 EXECUTION_MISMATCH); a fill dated in a day already settled is 409
    SETTLEMENT_DAY_CLOSED."""
    recorded = await executions.record_execution(call.session, report=body.report())
    return ExecutionRecordedOut.of(recorded)
