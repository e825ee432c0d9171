"""The settlement scheduler outlives a catch-up that fails when it starts."""

from __future__ import annotations

import asyncio
import contextlib

from structlog.testing import capture_logs

from gr8d.config import Settings, load_settings
from settlement.cli import run_scheduler


async def test_a_failing_first_catch_up_is_logged_and_the_scheduler_keeps_running(
    settings: Settings,
) -> None:
    """Inside `gr8d run` the scheduler ending would stop the API and the indexer with it; the
    retry tick catches up once PostgreSQL answers again."""
    unreachable = load_settings(
        app_env="test",
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
        redis_url=settings.redis_url,
    )

    with capture_logs() as logs:
        scheduler = asyncio.create_task(run_scheduler(unreachable))
        for _ in range(200):
            if scheduler.done() or any(e["event"] == "settlement scheduler started" for e in logs):
                break
            await asyncio.sleep(0.05)
        running = not scheduler.done()
        scheduler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scheduler

    assert running
    failures = [e for e in logs if e["event"] == "catch-up failed; the next tick tries again"]
    assert len(failures) == 1 and failures[0]["log_level"] == "error"
