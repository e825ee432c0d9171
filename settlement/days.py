"""Whether a day can still take new fills: once day D is settled its rows and Merkle roots are
final, so a FILLED execution dated inside D must not appear afterwards (it would be charged
nowhere and missing from the committed root that proofs are checked against).
"""

from __future__ import annotations

import uuid

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import RunKind
from db.models import DayCommit
from settlement import rules
from settlement.runs import advisory_key, is_done


async def day_is_open(session: AsyncSession, *, strategy_id: uuid.UUID, day_index: int) -> bool:
    """Whether fills of `strategy_id` dated in day D may still be recorded.

    Holds a shared transaction-scoped lock on the daily run's advisory key: a settlement of D
    that is running makes this wait until it commits (and then D is closed), and a run that
    starts meanwhile finds the key taken and tries again later, so no fill slips between a
    run's volume scan and its Merkle roots. Closed = the run of D is recorded DONE, or the
    strategy has a root for D (written by a direct call of settle_day).
    """
    period = rules.date_of_day_index(day_index).isoformat()
    key = advisory_key("settlement", RunKind.DAILY.value, period)
    await session.execute(select(func.pg_advisory_xact_lock_shared(key)))
    if await is_done(session, RunKind.DAILY, period):
        return False
    committed = await session.scalar(
        select(
            exists().where(DayCommit.strategy_id == strategy_id, DayCommit.day_index == day_index)
        )
    )
    return not committed
