"""SIGTERM stops the API within 10 s (operations.md) even while a request hangs on the database:
graceful shutdown drains requests, but not past the deadline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gr8d.embedded import ServerUrls
from tests.e2e.conftest import free_port
from tests.processes import STOP_WITHIN_SECONDS, Gr8d, start_gr8d, wait_until


async def _status(url: str) -> int:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status
    except aiohttp.ClientError:
        return 0


async def _started(command: list[str], env: dict[str, str], log_path: Path, port: int) -> Gr8d:
    process = await start_gr8d(command, env=env, log_path=log_path)
    health = f"http://127.0.0.1:{port}/api/v1/health"

    async def answers() -> bool:
        return await _status(health) == 200

    try:
        await wait_until(answers, within=60, what="the API answers", every=0.2)
    except BaseException:
        await process.kill()
        raise
    return process


@pytest.mark.parametrize(
    "command", [["api"], ["api", "--workers", "2"], ["run"]], ids=["api", "workers", "run"]
)
async def test_sigterm_stops_the_api_within_10_s_while_a_request_waits_on_a_lock(
    engine: AsyncEngine,
    database_url: str,
    server_urls: ServerUrls,
    tmp_path: Path,
    command: list[str],
) -> None:
    port = free_port()
    env = {"DATABASE_URL": database_url, "REDIS_URL": server_urls.redis_url}
    api = await _started(
        [*command, "--port", str(port)] if command[0] == "api" else command,
        env | {"API_PORT": str(port)},
        tmp_path / "out",
        port,
    )
    async with engine.connect() as locker:
        # /metrics reads settlement_runs: the scrape waits for this lock as long as it is held.
        await locker.execute(text("LOCK TABLE settlement_runs IN ACCESS EXCLUSIVE MODE"))
        stuck = asyncio.ensure_future(_status(f"http://127.0.0.1:{port}/api/v1/metrics"))
        try:
            await asyncio.sleep(1)
            assert not stuck.done()
            asked = time.monotonic()
            code = await api.terminate(within=STOP_WITHIN_SECONDS + 5)
            took = time.monotonic() - asked
        finally:
            await api.kill()
            await locker.rollback()
        await stuck

    assert code == 0, api.output()[-3000:]
    assert took < STOP_WITHIN_SECONDS
