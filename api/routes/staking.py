"""/api/v1 routes of the staking area (api.md "Resources": staking).

Staking happens on chain (G8DStaking); the API reads what the indexer derived from it."""

from __future__ import annotations

from api.pagination import Page, paginate
from api.registry import Call, Routes
from api.schemas.staking import StakingQuery, StakingRecordOut, StakingSummaryOut
from indexer import staking_view

routes = Routes("staking")


@routes.get("/staking")
async def list_staking_records(call: Call, query: StakingQuery) -> Page[StakingRecordOut]:
    """My staking records (one per Staked or Withdrawn event), newest first in chain order."""
    statement = staking_view.records_of(call.user.id, record_type=query.type, status=query.status)
    return await paginate(call.session, statement, query, StakingRecordOut.from_row)


@routes.get("/staking/summary")
async def staking_summary(call: Call) -> StakingSummaryOut:
    """My stake, tier and what the tier gives, and any unstake waiting for its cooldown.

    The tier is the one my fees use (settlement.md): an administrator's manual tier when set,
    else with the chain enabled the tier of my staked G8D, else 0. Records of blocks that are
    not final yet count (PENDING). An unstake request can be withdrawn 7 days after it."""
    summary = await staking_view.summary(
        call.session, user_id=call.user.id, blockchain_enabled=call.settings.blockchain_enabled
    )
    return StakingSummaryOut.of(summary)
