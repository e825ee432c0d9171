"""One writer (chain.md, "One writer"): a session-level PostgreSQL advisory lock, held on a
connection of its own, makes one indexer process the leader. The others wait as hot standbys
and take over within a poll interval when it dies: a dead process's connection, and with it the
lock, goes away. A leader that loses its lock connection stops its work at once (another
process may already lead); every write is fenced as well (indexer/service.py, lock_position).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import structlog
from sqlalchemy.engine import make_url

log = structlog.get_logger("gr8d.indexer.leader")

T = TypeVar("T")

# What a failed connection attempt or lock query can raise while the database is away.
DATABASE_TROUBLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def asyncpg_dsn(database_url: str) -> str:
    """DATABASE_URL (SQLAlchemy's postgresql+asyncpg://...) as asyncpg's own DSN."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def lock_key(purpose: str, chain_id: int) -> int:
    digest = hashlib.blake2b(f"gr8d.{purpose}:{chain_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True, slots=True)
class LeaderTimings:
    """Seconds. Tests shrink them; the defaults give a takeover within about a second."""

    standby_poll: float = 0.5  # how often a standby asks for the lock
    keepalive: float = 1.0  # how often the leader checks its lock connection
    timeout: float = 5.0  # connecting, and each query on the lock connection
    max_backoff: float = 10.0  # the cap of the wait between attempts while the database is away


class LostLeadership(Exception):
    """The lock connection failed: this process may no longer be the only writer."""


class Leadership:
    def __init__(
        self, database_url: str, *, ssl: str, chain_id: int, timings: LeaderTimings | None = None
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._ssl = ssl
        self._key = lock_key("indexer.leader", chain_id)
        self._chain_id = chain_id
        self.timings = timings or LeaderTimings()

    async def run(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Wait for the lock, then run `work` while holding it; when the lock connection fails,
        cancel `work`, wait for the lock again and start `work` afresh."""
        while True:
            connection = await self._acquire()
            try:
                return await self._lead(connection, work)
            except LostLeadership as lost:
                log.error("lost the leader lock; stopped writing", reason=str(lost))
            finally:
                connection.terminate()

    async def _acquire(self) -> asyncpg.Connection:
        failures = 0
        announced = False
        connection: asyncpg.Connection | None = None
        while True:
            try:
                if connection is None:
                    connection = await asyncpg.connect(
                        self._dsn,
                        ssl=self._ssl,
                        timeout=self.timings.timeout,
                        command_timeout=self.timings.timeout,
                    )
                if await connection.fetchval("SELECT pg_try_advisory_lock($1)", self._key):
                    if failures:
                        log.info("database is back", failed_attempts=failures)
                    log.info("leading: this process indexes", chain_id=self._chain_id)
                    return connection
            except DATABASE_TROUBLE as error:
                if connection is not None:
                    connection.terminate()
                    connection = None
                failures += 1
                delay = min(self.timings.max_backoff, self.timings.standby_poll * 2**failures)
                log.warning(
                    "database unavailable; indexing waits",
                    error=f"{type(error).__name__}: {error}",
                    attempts=failures,
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)
                continue
            except BaseException:  # cancelled while waiting: leave no connection behind
                if connection is not None:
                    connection.terminate()
                raise
            if not announced:
                log.info("standby: another process leads; waiting to take over")
                announced = True
            await asyncio.sleep(self.timings.standby_poll)

    async def _lead(
        self, connection: asyncpg.Connection, work: Callable[[], Coroutine[Any, Any, T]]
    ) -> T:
        working = asyncio.ensure_future(work())
        watching = asyncio.ensure_future(self._watch(connection))
        try:
            done, _ = await asyncio.wait({working, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (working, watching):
                task.cancel()
            # The work must be over before another process may write: wait for its cleanup.
            await asyncio.wait({working, watching})
        if working in done:
            return working.result()
        reason = None if watching.cancelled() else watching.exception()
        raise LostLeadership(str(reason or "the lock connection closed"))

    async def _watch(self, connection: asyncpg.Connection) -> None:
        """Returns (with its reason as exception) when the lock connection stops answering."""
        while True:
            await asyncio.sleep(self.timings.keepalive)
            try:
                await connection.fetchval("SELECT 1", timeout=self.timings.timeout)
            except DATABASE_TROUBLE as error:
                raise LostLeadership(f"{type(error).__name__}: {error}") from error
