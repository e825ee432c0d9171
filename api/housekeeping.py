"""Background upkeep of the API's own tables while the app runs (a cleanup_ctx resource).

Expired idempotency keys are deleted now and then: a key is also forgotten when its user sends
the next one, but the keys of users who stopped sending would stay forever. Every API process
does it (deleting what another already deleted is harmless), so no process is special.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web
from sqlalchemy.exc import DBAPIError

from api import context
from api.idempotency import purge_expired
from db.uow import UnitOfWork

log = structlog.get_logger("gr8d.api")

PURGE_EVERY_SECONDS = 3600.0


def purging_expired_keys(
    every_seconds: float = PURGE_EVERY_SECONDS,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx resource that purges expired idempotency keys every `every_seconds`
    (first right after start-up) until the app stops; it needs the app's session factory."""

    async def run_beside_the_app(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_purge_forever(app, every_seconds))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return run_beside_the_app


async def _purge_forever(app: web.Application, every_seconds: float) -> None:
    while True:
        try:
            async with UnitOfWork(app[context.SESSION_FACTORY]) as uow:
                purged = await purge_expired(uow.session, now=dt.datetime.now(dt.UTC))
                await uow.commit()
            if purged:
                log.info("expired idempotency keys purged", purged=purged)
        except (DBAPIError, OSError) as error:
            # The database being away is reported by /health; the next round tries again.
            log.warning("idempotency key purge failed", error=str(error))
        await asyncio.sleep(every_seconds)
