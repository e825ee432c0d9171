"""`gr8d demo`: the whole product on one machine, with nothing configured.

Embedded PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL are set), a dev chain whose clock
starts a few days back, the daemon's parts (API and indexer; the scheduler once the simulated
days have happened, so its catch-up settles them), a short simulation through the chain and the
API, then either a welcome with copy-paste requests (Ctrl-C stops) or, with `--check`, a
verification of the end state through the API (exit 0 or 1).

The demo works in a database of its own (`gr8d_demo`, or `<DATABASE_URL's name>_demo`), recreated
at every start: its data is the simulation's, and the dev chain it indexes is new each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import click
import structlog
from eth_account import Account
from sqlalchemy.engine import make_url
from web3 import AsyncHTTPProvider, AsyncWeb3

from db import admin, migrate
from gr8d.config import Settings
from gr8d.demo_checks import check_end_state, settled_everything
from gr8d.embedded import servers_for
from indexer.devchain import Anvil, deploy_protocol, running_anvil
from settlement.scheduled import MONTHLY_RUN_TIME, settling_date
from simulation.chain import Protocol
from simulation.client import ApiClient, ApiRefused, Caller
from simulation.scenario import Scenario, Simulation, demo_email, demo_password, simulated_days
from simulation.world_clock import backdate_clones, promote

DEMO_DATABASE = "gr8d_demo"
DEMO_SCENARIO = Scenario(users=6, days=3, seed=7)
WAIT_SECONDS = 240.0
POLL_SECONDS = 0.5
FINALITY_BLOCKS = 70
"""anvil marks `finalized` 64 blocks below its head."""

log = structlog.get_logger("gr8d.demo")


class DemoFailed(Exception):
    """A step of the demo did not happen in time; the message says which."""


@dataclass(frozen=True)
class DemoPlan:
    today: dt.date
    scenario: Scenario

    @property
    def days(self) -> list[dt.date]:
        return simulated_days(self.scenario, self.today)

    @property
    def royalty_month_start(self) -> dt.date:
        """The month before today's: its royalty run is part of the catch-up."""
        return (self.today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)

    @property
    def genesis(self) -> int:
        start = dt.datetime.combine(self.days[0], dt.time(0), dt.UTC) - dt.timedelta(hours=1)
        return int(start.timestamp())


async def run_demo(settings: Settings, data_dir: Path, *, check: bool) -> int:
    # Days and a month the daemon's catch-up settles at once (their run times have come).
    today = settling_date(dt.datetime.now(dt.UTC), MONTHLY_RUN_TIME)
    plan = DemoPlan(today=today, scenario=DEMO_SCENARIO)
    stack = contextlib.ExitStack()
    try:
        urls = await asyncio.to_thread(stack.enter_context, servers_for(settings, data_dir))
        database_url = await _fresh_database(
            urls.database_url,
            demo_database_name(settings),
            ssl=settings.effective_database_ssl.value,
        )
        await asyncio.to_thread(migrate.upgrade, database_url)
        async with running_anvil(genesis_timestamp=plan.genesis) as anvil:
            w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
            try:
                ready = await _configure(
                    settings, plan, anvil, w3, data_dir, database_url, urls.redis_url
                )
                return await _run(ready, plan, anvil, w3, check=check)
            finally:
                await w3.provider.disconnect()
    except (DemoFailed, ApiRefused) as error:
        log.error("demo failed", reason=str(error))
        return 1
    except TimeoutError:
        log.error("demo failed", reason="a step did not finish in time (see the last 'waiting')")
        return 1
    finally:
        await asyncio.to_thread(stack.close)


def demo_database_name(settings: Settings) -> str:
    """`gr8d_demo` on the embedded server; beside a configured database, `<its name>_demo`
    (the configured database itself is never touched)."""
    if settings.database_url is None:
        return DEMO_DATABASE
    return f"{make_url(settings.database_url).database}_demo"


async def _fresh_database(server_url: str, name: str, *, ssl: str | None) -> str:
    if await admin.database_exists(server_url, name, ssl=ssl):
        await admin.drop_database(server_url, name, ssl=ssl)
    return await admin.create_database(server_url, name, ssl=ssl)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _configure(
    settings: Settings,
    plan: DemoPlan,
    anvil: Anvil,
    w3: AsyncWeb3[Any],
    data_dir: Path,
    database_url: str,
    redis_url: str,
) -> Settings:
    relayer = Account.from_key(anvil.private_keys[1])
    deployments = await deploy_protocol(w3, anvil.private_keys[0], relayer=relayer.address)
    deployments_file = data_dir / "deployments.json"
    await asyncio.to_thread(deployments.write, deployments_file)
    return settings.model_copy(
        update={
            "database_url": database_url,
            "redis_url": redis_url,
            "rpc_urls": [anvil.url],
            "deployments_file": str(deployments_file),
            "blockchain_enabled": True,
            "confirmations": 2,
            "settlement_start_day": plan.royalty_month_start,
            "relayer_private_key": anvil.private_keys[1],
            # The simulated people call from their own addresses through a local proxy.
            "trusted_proxies": ["127.0.0.1/32", "::1/128"],
            # The simulated trading engine reports days of executions in one burst from one
            # address; the per-IP default (100 a minute) is for clients, not for that replay.
            "api_rate_limit_per_minute": max(settings.api_rate_limit_per_minute, 10_000),
            "api_port": settings.api_port if _port_free(settings.api_port) else _free_port(),
        }
    )


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def _run(
    settings: Settings, plan: DemoPlan, anvil: Anvil, w3: AsyncWeb3[Any], *, check: bool
) -> int:
    from api.server import serve_api
    from indexer.cli import run_indexer
    from settlement.cli import run_scheduler

    api_url = f"http://127.0.0.1:{settings.api_port}/api/v1"
    async with (
        _background("api", serve_api(settings)),
        _background("indexer", run_indexer(settings)),
        aiohttp.ClientSession() as http,
    ):
        api = ApiClient(http, api_url)
        await _until("the API answers", lambda: _answers(http, api_url))
        simulation = await _simulate(settings, plan, anvil, w3, api)
        await _until(
            "the indexer finalizes the simulated days",
            lambda: _final_past(settings, plan.today),
        )
        async with _background("scheduler", run_scheduler(settings)):
            await _until(
                "the scheduler's catch-up settles every day and the month",
                lambda: settled_everything(settings, plan.days, plan.royalty_month_start),
            )
            paid = await simulation.pay_pending_settlements_on_chain()
            await simulation.protocol.mine(FINALITY_BLOCKS)
            await _until(
                "the indexer records the settlements paid on chain",
                lambda: _paid_onchain(settings, paid),
            )
            admin_caller = await _sign_in_admin(api, simulation.addresses.operator)
            if check:
                problems = await check_end_state(api, admin_caller, simulation.world, settings)
                for problem in problems:
                    log.error("demo check failed", problem=problem)
                if not problems:
                    click.echo("gr8d demo --check: every check passed")
                return 1 if problems else 0
            _print_welcome(api_url)
            await asyncio.Event().wait()
    return 0


async def _simulate(
    settings: Settings, plan: DemoPlan, anvil: Anvil, w3: AsyncWeb3[Any], api: ApiClient
) -> Simulation:
    from indexer.devchain import Deployments

    deployments = await asyncio.to_thread(Deployments.read, Path(str(settings.deployments_file)))
    protocol = Protocol(w3, deployments, Account.from_key(anvil.private_keys[0]))
    simulation = Simulation(api, protocol, plan.scenario, today=plan.today).with_service_token(
        settings.internal_api_token
    )
    world = await simulation.run_activity()
    await protocol.mine(FINALITY_BLOCKS)
    await backdate_clones(settings, world.clones, into=plan.royalty_month_start)
    await promote(settings, demo_email(0))
    return simulation


async def _sign_in_admin(api: ApiClient, address: str) -> Caller:
    caller = Caller(client_ip=address)
    tokens = await api.post(
        "/auth/login", caller, json={"email": demo_email(0), "password": demo_password(0)}
    )
    caller.token = tokens["access_token"]
    return caller


async def _answers(http: aiohttp.ClientSession, api_url: str) -> bool:
    try:
        async with http.get(f"{api_url}/health") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _final_past(settings: Settings, today: dt.date) -> bool:
    from gr8d.demo_checks import chain_final_past

    return await chain_final_past(settings, dt.datetime.combine(today, dt.time(0), dt.UTC))


async def _paid_onchain(settings: Settings, expected: int) -> bool:
    from gr8d.demo_checks import settlements_paid_onchain

    return await settlements_paid_onchain(settings) >= expected


async def _until(what: str, condition: Callable[[], Awaitable[bool]]) -> None:
    log.info("waiting", until=what)
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            if await condition():
                break
            await asyncio.sleep(POLL_SECONDS)
    log.info("done", step=what)


@contextlib.asynccontextmanager
async def _background(name: str, work: Awaitable[Any]) -> AsyncIterator[None]:
    """Run a daemon part while the block runs; its failure fails the demo."""
    task = asyncio.ensure_future(work)
    try:
        yield
        if task.done() and task.exception() is not None:
            raise DemoFailed(f"the {name} stopped: {task.exception()}")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _print_welcome(api_url: str) -> None:
    read_token = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
    login = (
        f"curl -s -X POST {api_url}/auth/login -H 'Content-Type: application/json' "
        f"""-d '{{"email": "{demo_email(1)}", "password": "{demo_password(1)}"}}'"""
    )
    click.echo(
        "\ngr8d demo is running: dev chain, indexer, scheduler and API on embedded servers.\n"
        f"  API:  {api_url}   (docs: {api_url}/docs)\n\n"
        f"Log in as a demo user ({demo_email(1)} / {demo_password(1)}):\n"
        f"  TOKEN=$({login} | {read_token})\n"
        "Then:\n"
        f'  curl -s {api_url}/credits -H "Authorization: Bearer $TOKEN"\n'
        f'  curl -s {api_url}/settlements -H "Authorization: Bearer $TOKEN"\n'
        f'  curl -s {api_url}/staking/summary -H "Authorization: Bearer $TOKEN"\n'
        f'  curl -s {api_url}/follows -H "Authorization: Bearer $TOKEN"\n'
        f"{demo_email(0)} is an admin: its token also reads {api_url}/admin/royalties.\n"
        "Press Ctrl-C to stop.\n"
    )
