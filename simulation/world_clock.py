"""What a simulation of past days must do outside the API, said openly.

The API stamps a template clone with the moment it happens. A simulation that replays history
moves its own clones (and only those) to the simulated month, so that month's royalty run has
revenue to pay out. And the first admin comes from the command line in real life
(`gr8d admin promote`); the simulation promotes its first person the same way.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import update

from accounts import service as accounts
from db.engine import create_engine, create_session_factory
from db.models import TemplateClone
from db.uow import UnitOfWork
from gr8d.config import Settings

CLONE_HOUR = dt.time(15)


async def backdate_clones(settings: Settings, clone_ids: Sequence[str], *, into: dt.date) -> int:
    """Move the given clones to the last day of the month that starts at `into`."""
    next_month = (into.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    moment = dt.datetime.combine(next_month - dt.timedelta(days=1), CLONE_HOUR, dt.UTC)
    engine = create_engine(settings)
    try:
        async with UnitOfWork(create_session_factory(engine)) as uow:
            result = await uow.session.execute(
                update(TemplateClone)
                .where(TemplateClone.id.in_([uuid.UUID(value) for value in clone_ids]))
                .values(created_at=moment)
            )
            await uow.commit()
            moved: int = result.rowcount  # type: ignore[attr-defined]
            return moved
    finally:
        await engine.dispose()


async def promote(settings: Settings, email: str) -> None:
    engine = create_engine(settings)
    try:
        async with UnitOfWork(create_session_factory(engine)) as uow:
            await accounts.promote(uow.session, email=email)
            await uow.commit()
    finally:
        await engine.dispose()
