"""`gr8d simulate` against a running daemon and a dev chain, as an operator would try it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Execution, Follow, Settlement, StrategyRegistration, User
from gr8d.embedded import ServerUrls
from tests.chain import deployed_protocol
from tests.e2e.conftest import free_port
from tests.indexing import indexer_environment
from tests.processes import start_gr8d, wait_until

SIMULATION_TIMEOUT_SECONDS = 300


async def _count(session_factory: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _api_up(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/api/v1/health") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def test_simulate_drives_users_strategies_follows_and_trades_through_chain_and_api(
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
    tmp_path: Path,
) -> None:
    async with deployed_protocol() as chain:
        port = free_port()
        env = indexer_environment(chain, database_url, tmp_path) | {
            "REDIS_URL": server_urls.redis_url,
            "API_PORT": str(port),
            "TRUSTED_PROXIES": "127.0.0.1",
            "SIMULATION_OPERATOR_KEY": chain.anvil.private_keys[0],
        }
        daemon = await start_gr8d(["run", "--no-scheduler"], env=env, log_path=tmp_path / "run")
        try:
            await wait_until(lambda: _api_up(port), within=30, what="the API answers", every=0.2)
            simulation = await start_gr8d(
                ["simulate", "--users", "4", "--days", "2", "--seed", "3"],
                env=env,
                log_path=tmp_path / "simulate",
            )
            code = await asyncio.wait_for(simulation.process.wait(), SIMULATION_TIMEOUT_SECONDS)
        finally:
            await daemon.terminate()
    assert code == 0, simulation.output()[-3000:]
    assert "simulated 4 users over 2 days" in simulation.output()
    assert await _count(session_factory, User) == 4
    assert await _count(session_factory, StrategyRegistration) == 2
    assert await _count(session_factory, Follow) >= 2
    assert await _count(session_factory, Execution) >= 4
    assert await _count(session_factory, Settlement) >= 2
